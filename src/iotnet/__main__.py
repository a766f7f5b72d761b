"""python -m iotnet script.py [args...]: runs the script as __main__, then the loop.

Exit status: 0 at a normal end, 1 with a traceback on an uncaught exception, 130 on Ctrl-C.
"""
import runpy
import sys
import traceback

import iotnet

EXIT_UNCAUGHT_EXCEPTION = 1
EXIT_INTERRUPTED = 130       # 128 + SIGINT, as shells report it
EXIT_USAGE = 2


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m iotnet script.py [args...]", file=sys.stderr)
        return EXIT_USAGE if not argv else 0
    sys.argv = list(argv)
    try:
        runpy.run_path(argv[0], run_name="__main__")
        iotnet.run()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        return EXIT_UNCAUGHT_EXCEPTION
    return 0


if __name__ == "__main__":
    sys.exit(main())
