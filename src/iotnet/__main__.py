"""python -m iotnet [--workers N] [--grace SECONDS] script.py [args...]: runs the script as
__main__, then the loop (unless the script ran it and ended it with stop()); with --workers, a
supervisor runs N worker processes of it.

Exit status: 0 at a normal end (and after a graceful stop on SIGTERM), 1 with a traceback on an
uncaught exception, 130 on Ctrl-C, 2 on a usage error.
"""
import runpy
import sys
import traceback

import iotnet
from . import _core, _shutdown

EXIT_UNCAUGHT_EXCEPTION = 1
EXIT_INTERRUPTED = 130       # 128 + SIGINT, as shells report it
EXIT_USAGE = 2

USAGE = """\
usage: python -m iotnet [--workers N] [--grace SECONDS] script.py [args...]

Runs script.py as __main__, then the iotnet loop.

  --workers N        run N worker processes of the script (0: one per CPU) under a
                     supervisor; their TCP servers share ports (SO_REUSEPORT), a worker
                     that dies is started again, SIGHUP restarts them one at a time
  --grace SECONDS    on SIGTERM, how long open connections may go on after the servers
                     closed (default 30)"""


class _UsageError(Exception):
    pass


def _parse(argv):
    """(workers or None, grace in seconds, script argv); options stop at the script's name."""
    workers = None
    grace = _shutdown.DEFAULT_GRACE_S
    argv = list(argv)
    while argv and argv[0].startswith("--"):
        option = argv.pop(0)
        name, _, value = option.partition("=")
        if name not in ("--workers", "--grace"):
            raise _UsageError(f"unknown option {option}")
        if not _:
            if not argv:
                raise _UsageError(f"{name} needs a value")
            value = argv.pop(0)
        try:
            number = int(value) if name == "--workers" else float(value)
        except ValueError:
            raise _UsageError(f"{name}: not a number: {value!r}") from None
        if number < 0 or number != number:
            raise _UsageError(f"{name} must be 0 or more, not {value}")
        if name == "--workers":
            workers = number
        else:
            grace = number
    if not argv:
        raise _UsageError("no script given")
    return workers, grace, argv


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    try:
        workers, grace, argv = _parse(argv)
    except _UsageError as exc:
        print(USAGE, file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if workers is not None:
        from . import _supervisor
        return _supervisor.run(workers, grace, argv)
    _shutdown.install(grace, worker=iotnet.worker_id is not None)
    sys.argv = list(argv)
    try:
        runpy.run_path(argv[0], run_name="__main__")
        # A script that ran its own loop and ended it with stop() (its own SIGTERM handler, say)
        # is finished; running the loop again would keep its servers open.
        if not _core._ended_by_stop():
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
