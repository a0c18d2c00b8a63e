"""A FastAPI app run as three uvicorn servers behind supervise's front:

    supervise -w 3 --base-port 8000 --port 8080 --health /healthz -- uvicorn main:app --port {port}

Each server gets its port through {port}; SUPERVISE_WORKER tells it its slot.
"""
import os

from fastapi import FastAPI

app = FastAPI()
WORKER = int(os.environ.get("SUPERVISE_WORKER", "-1"))
GENERATION = int(os.environ.get("SUPERVISE_GENERATION", "0"))


@app.get("/")
def hello() -> dict:
    return {"worker": WORKER, "pid": os.getpid(), "generation": GENERATION}


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True}
