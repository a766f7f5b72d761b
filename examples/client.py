"""A client: sends a line to a server and prints what comes back.

    python examples/client.py PORT [HOST] [MESSAGE]
"""
import sys

import iotnet


def main():
    port = int(sys.argv[1])
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    message = sys.argv[3] if len(sys.argv) > 3 else "hello from iotnet"

    sock = iotnet.connect(port, host)
    sock.setEncoding("utf8")
    sock.setTimeout(5000, lambda: sock.destroy(TimeoutError("no answer within 5 s")))
    sock.on("connect", lambda: sock.write(message + "\n"))

    def on_data(text):
        print(text, end="", flush=True)
        if text.endswith("\n"):
            sock.end()

    sock.on("data", on_data)
    sock.on("error", lambda err: print("error:", err, file=sys.stderr))
    iotnet.run()


if __name__ == "__main__":
    main()
