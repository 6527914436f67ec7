from quart import Quart, websocket

app = Quart(__name__)


@app.route("/")
async def hello():
    return "hello from quart"


@app.websocket("/ws")
async def echo():
    while True:
        await websocket.send(await websocket.receive())
