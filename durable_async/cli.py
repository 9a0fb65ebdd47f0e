"""``durable-async``: run, inspect and answer durable functions on the local service.

    durable-async run examples/orders.py:handler --input '{"order_id": "o-1", "cents": 500}'
    durable-async list --status RUNNING
    durable-async show o-1
    durable-async callback succeed --execution o-1 --name approval --payload '{"ok": true}'
    durable-async stop o-1
    durable-async serve --function orders=examples/orders.py:handler --port 8080

``serve`` is the local service over HTTP with functions in worker processes (docs/serve.md);
docs/cli.md describes every command.

Executions live in a SQLite file (``.durable/durable.sqlite3`` by default), readable by its
owner only. Running again with the same ``--name`` resumes that execution where it stopped
(after a crash, Ctrl-C or SIGTERM) instead of starting a new one; a finished execution just
prints its result again. Names belong to one handler: its file (by resolved path) and attribute
make the function name, ``orders-handler-<hash of the path>``, so ``one/orders.py:handler`` and
``two/orders.py:handler`` never share a ``--name``.

One process drives an execution at a time. A second ``run`` of a name that another live process
is running exits with status 4 and names that process (pid and host); once the holder ends, or
is killed, the name can be run again at once to resume it.

Exit status:

* 0 - the execution SUCCEEDED (its result is printed as JSON), or the command did its work.
* 1 - the execution FAILED; its error is printed as JSON.
* 2 - bad usage: a bad flag, target, ``--input``, ``--name``, or a ``--store`` that is not a
  usable SQLite store (a text file, a folder, a corrupt database).
* 3 - ``run --timeout`` ran out; the execution goes on when run again with the same ``--name``.
* 4 - another process is running this execution; the message names its pid and host.
* 5 - the execution TIMED_OUT (its ExecutionTimeout passed).
* 6 - the execution was STOPPED.
* 7 - not found or refused: no such store, execution or callback, or it already ended.
* 130 - interrupted (Ctrl-C); 143 - terminated (SIGTERM): run again with the same ``--name``.
"""

from __future__ import annotations

from durable_async._cli.app import main
from durable_async._loader import function_name

__all__ = ["function_name", "main"]


if __name__ == "__main__":
    raise SystemExit(main())
