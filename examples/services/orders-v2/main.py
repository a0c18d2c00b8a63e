"""orders-service v2, the canary: the front sends it 1 of every 10 requests
to /orders, the other 9 go to ../orders (v1).
"""
import os

from fastapi import FastAPI

app = FastAPI()
VERSION = 2
SERVICE = {"service": "orders-canary", "version": VERSION, "pid": os.getpid(), "worker": int(os.environ.get("SUPERVISE_WORKER", "-1"))}


@app.get("/orders/")
def list_orders() -> dict:
    return {**SERVICE, "orders": [{"id": 1, "user": 1, "total": 42}]}


@app.get("/orders/{order_id}")
def get_order(order_id: int) -> dict:
    return {**SERVICE, "order": {"id": order_id, "user": 1, "total": 42}}


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True}
