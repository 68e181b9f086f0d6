"""`keras-lm serve BUNDLE [--backend onnx|tflite] [--host 127.0.0.1] [--port 8000]`: an HTTP API.

TensorFlow-free: it needs the [serve] extra (`pip install 'keras-lm[serve]'`). The API,
its limits and its metrics are `keras_lm.serving`'s; README.md ("Serving") has curl examples.
"""

from __future__ import annotations

from keras_lm.cli.console import err_console
from keras_lm.errors import InputError


def register(commands) -> None:
    serve = commands.add_parser("serve", help="serve an export bundle over HTTP (OpenAI-style API)")
    serve.add_argument("bundle", metavar="BUNDLE", help="an export bundle folder")
    serve.add_argument("--backend", choices=["onnx", "tflite"], default="onnx")
    serve.add_argument("--quantization", default="float32", help="the bundle variant to serve")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: this machine only)"
    )
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--max-batch", type=int, default=32, help="requests decoded together (1: one at a time)"
    )
    serve.add_argument(
        "--max-in-flight",
        type=int,
        default=128,
        help="requests admitted; past it, 503 + Retry-After",
    )
    serve.add_argument("--max-tokens", type=int, default=512, help="the largest max_tokens allowed")
    serve.add_argument("--max-body-bytes", type=int, default=65536, help="the largest request body")
    serve.add_argument("--threads", type=int, default=None, help="the runtime's intra-op threads")
    serve.add_argument(
        "--api-key-file", default=None, help="clients must send `Authorization: Bearer KEY`"
    )
    serve.add_argument(
        "--no-prepare-thread",
        dest="prepare_thread",
        action="store_false",
        help="prefill/encode on the decode thread, not a second one (ONNX only has one)",
    )
    serve.add_argument(
        "--no-engine-process",
        dest="engine_process",
        action="store_false",
        help="decode on threads of the server's process, not in a process of its own",
    )
    serve.set_defaults(run=run_serve)


def run_serve(args) -> int:
    from keras_lm.serving.config import ServeConfig

    config = ServeConfig(
        bundle=args.bundle,
        backend=args.backend,
        quantization=args.quantization,
        host=args.host,
        port=args.port,
        max_batch=args.max_batch,
        max_in_flight=args.max_in_flight,
        max_tokens=args.max_tokens,
        max_body_bytes=args.max_body_bytes,
        num_threads=args.threads,
        api_key_file=args.api_key_file,
        prepare_thread=args.prepare_thread,
        engine_process=args.engine_process,
    )
    try:
        import uvicorn

        from keras_lm.serving.app import build_app
    except ImportError as err:
        raise InputError(
            "serve", f"needs the [serve] extra: pip install 'keras-lm[serve]' ({err})"
        ) from err
    from keras_lm.runtime.bundle import load_bundle

    where = (config.bundle, config.backend, config.quantization, config.num_threads)
    model = load_bundle(*where, runtime=not config.engine_process)  # the engine opens the graphs
    if model.task == "classify" and model.stepper is None:  # classified here: no engine
        model = load_bundle(*where)
    app = build_app(config, model)
    err_console().print(
        f"serving {config.bundle} ({model.task}) on http://{config.host}:{config.port}"
    )
    uvicorn.run(
        app, host=config.host, port=config.port, log_level="warning" if not args.verbose else "info"
    )
    return 0
