def main() -> None:
    print("Hello from uv-app!")
