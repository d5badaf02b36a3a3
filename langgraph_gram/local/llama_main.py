"""Run llama-cpp-python's server with llama.cpp's extra weight buffers turned off.

llama.cpp copies weights into "extra" buffer types for faster kernels: AMX tiles on recent
Intel Xeons, repacked blocks elsewhere. On some machines those kernels crash on the first
request (the AMX kernels under some hypervisors, llama.cpp issues #20824 and #26954), and
llama-cpp-python has no flag for it. :class:`~langgraph_gram.local.server.LocalServer` then
serves through this module: it sets ``use_extra_bufts = False`` in the model parameters
llama-cpp-python starts from, and runs ``llama_cpp.server`` as ``python -m`` would::

    python -m langgraph_gram.local.llama_main --model m.gguf --port 8080
"""

from __future__ import annotations

import ctypes
import runpy
import sys
from collections.abc import Callable, Sequence


def without_extra_buffers(
    defaults: Callable[[], ctypes.Structure],
) -> Callable[[], ctypes.Structure]:
    """Wrap ``llama_model_default_params`` so that its result turns extra buffers off.

    Args:
        defaults: llama-cpp-python's ``llama_model_default_params``.

    Returns:
        A function with the same result, ``use_extra_bufts`` set to ``False``.
    """

    def params() -> ctypes.Structure:
        result = defaults()
        result.use_extra_bufts = False  # type: ignore[attr-defined]
        return result

    return params


def main(argv: Sequence[str] | None = None) -> None:
    """Serve with ``llama_cpp.server``, extra weight buffers off.

    Args:
        argv: ``llama_cpp.server`` flags; default ``sys.argv[1:]``.
    """
    import llama_cpp.llama_cpp as lib  # the ctypes bindings llama_cpp.Llama reads them from

    fields = {name for name, *_ in getattr(lib.llama_model_params, "_fields_", [])}
    if "use_extra_bufts" in fields:
        lib.llama_model_default_params = without_extra_buffers(lib.llama_model_default_params)
        print("langgraph-gram: llama.cpp extra weight buffers off", file=sys.stderr, flush=True)
    else:
        print(
            "langgraph-gram: this llama-cpp-python has no use_extra_bufts; serving as is",
            file=sys.stderr,
            flush=True,
        )
    sys.argv = ["llama_cpp.server", *(sys.argv[1:] if argv is None else argv)]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
