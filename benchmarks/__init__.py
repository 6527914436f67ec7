"""warp's benchmark suite: `python -m benchmarks [--quick] [--only build|start|reload|throughput|asgi]`."""
