from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute


async def hello(request):
    return PlainTextResponse("hello from starlette")


async def echo(websocket):
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


app = Starlette(routes=[Route("/", hello), WebSocketRoute("/ws", echo)])
