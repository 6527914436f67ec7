import asyncio
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

started = []


@asynccontextmanager
async def lifespan(app):
    if os.environ.get("FAIL_STARTUP"):
        raise RuntimeError("the database is unreachable")
    started.append(True)
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/")
async def hello():
    return {"hello": "world", "lifespan": bool(started), "pid": os.getpid(), "text": "hello from fastapi"}


@app.get("/slow")
async def slow():
    await asyncio.sleep(float(os.environ.get("SLOW_SECONDS", "0")))
    return {"slow": True}


@app.get("/io")
async def io():
    await asyncio.sleep(0.01)
    return {"slept": 0.01}


@app.websocket("/ws")
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
