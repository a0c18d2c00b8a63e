"""users-service: a FastAPI app, run by supervise as several uvicorn servers.

The shared front routes /users to it (see ../supervise.yaml); it serves the
whole path itself, as behind nginx's `location /users/`.
"""
import os

from fastapi import FastAPI, HTTPException

app = FastAPI()
SERVICE = {"service": "users", "pid": os.getpid(), "worker": int(os.environ.get("SUPERVISE_WORKER", "-1"))}
USERS = {1: {"id": 1, "name": "ada"}, 2: {"id": 2, "name": "grace"}}


@app.get("/users/")
def list_users() -> dict:
    return {**SERVICE, "users": list(USERS.values())}


@app.get("/users/{user_id}")
def get_user(user_id: int) -> dict:
    if user_id not in USERS:
        raise HTTPException(status_code=404, detail="no such user")
    return {**SERVICE, "user": USERS[user_id]}


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True}
