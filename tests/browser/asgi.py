"""The site's ASGI application for the daphnes that browser tests run: static files, and a way to know
that the work a test asked of the server has stopped.

Test settings have DEBUG off, so Django serves no static files itself; like channels'
ChannelsLiveServerTestCase, wrap the application so that pages get their CSS and JavaScript.

A browser test ends only when the server's work for it has stopped (tests/browser/conftest.py), or
emptying the test database races a query: PostgreSQL then answers one of them "deadlock detected",
and the next test sees the rows that were left. Closing the test's pages is not enough: Django
cancels the request of a page that went away, but the view goes on in its thread, querying; a
socket's disconnect starts work of its own (the audience broadcast); a room's roster keeper sleeps
seconds before it sees that the room is empty. `GET /__tests__/idle` answers once every request and
socket has ended, what they started has finished (cancelled if it was still waiting: the test is
over), and no sync code (views, database calls) runs in a thread. It answers 500 with what is still
running if that does not happen within IDLE_TIMEOUT_S.
"""

import asyncio
import contextvars
import json
import threading
import time
import weakref

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from spaces_project.asgi import application as site_application

IDLE_PATH = "/__tests__/idle"
IDLE_TIMEOUT_S = 30.0

# Set inside every request and socket; tasks they start inherit it with the rest of the context.
_serving = contextvars.ContextVar("serving_a_test", default=False)


def _name(task: asyncio.Task) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or repr(coro)


def _lives_with_the_process(task: asyncio.Task) -> bool:
    """The process's own loops (the room bus's reader and delivery, the audio and captions
    publishers) are started by the first socket that needs them and run until the process ends; by
    this project's convention their names end in `_forever`, and they hold no test's work once its
    sockets are gone."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_name.endswith("_forever")


class WorkTracker:
    """Serve `app`, keeping the tasks of requests and sockets, the tasks they start, and how many
    calls run in executor threads."""

    _asgi_single_callable = True

    def __init__(self, app) -> None:
        self.app = app
        self.instances: set[asyncio.Task] = set()
        self.started: set[asyncio.Task] = set()
        self.in_threads = 0
        self._lock = threading.Lock()
        self._loops: weakref.WeakSet = weakref.WeakSet()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == IDLE_PATH:
            await self._answer_idle(send)
            return
        self._watch(asyncio.get_running_loop())
        self._keep(self.instances, asyncio.current_task())
        _serving.set(True)
        await self.app(scope, receive, send)

    # -- keeping count ----------------------------------------------------------------------------

    @staticmethod
    def _keep(tasks: set, task: asyncio.Task) -> None:
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop in self._loops:
            return
        self._loops.add(loop)
        make_task = loop.get_task_factory()

        def task_factory(loop, coro, context=None):
            if make_task is not None:
                task = make_task(loop, coro) if context is None else make_task(loop, coro, context=context)
            else:
                task = asyncio.Task(coro, loop=loop, context=context)
            serving = _serving.get() if context is None else context.get(_serving, False)
            if serving:
                self._keep(self.started, task)
            return task

        loop.set_task_factory(task_factory)
        run_in_executor = loop.run_in_executor

        def counted_run_in_executor(executor, func, *args):
            def run():
                with self._lock:
                    self.in_threads += 1
                try:
                    return func(*args)
                finally:
                    with self._lock:
                        self.in_threads -= 1

            return run_in_executor(executor, run)

        loop.run_in_executor = counted_run_in_executor

    def _still_running(self) -> dict:
        return {
            "requests_and_sockets": sorted(_name(t) for t in self.instances if not t.done()),
            "started_by_them": sorted(_name(t) for t in self._started_work()),
            "calls_in_threads": self.in_threads,
        }

    def _started_work(self) -> list[asyncio.Task]:
        return [t for t in self.started if not t.done() and not _lives_with_the_process(t)]

    # -- waiting until idle -----------------------------------------------------------------------

    async def until_idle(self) -> dict:
        """Return once nothing is left of the tests' requests and sockets; raise TimeoutError with
        what is still running after IDLE_TIMEOUT_S."""
        began = time.monotonic()
        deadline = began + IDLE_TIMEOUT_S
        me = asyncio.current_task()
        cancelled: list[str] = []
        quiet_rounds = 0
        # Three quiet looks in a row, a loop turn apart: a connection that arrived just now has its
        # task started by then.
        while quiet_rounds < 3:
            if time.monotonic() > deadline:
                raise TimeoutError(json.dumps(self._still_running()))
            if any(not t.done() for t in self.instances if t is not me):
                quiet_rounds = 0
                await asyncio.sleep(0.02)
                continue
            leftover = [t for t in self._started_work() if t is not me]
            if leftover:
                quiet_rounds = 0
                for task in leftover:
                    cancelled.append(_name(task))
                    task.cancel()
                await asyncio.wait(leftover, timeout=max(0.05, deadline - time.monotonic()))
                continue
            if self.in_threads:
                quiet_rounds = 0
                await asyncio.sleep(0.02)
                continue
            quiet_rounds += 1
            await asyncio.sleep(0.02)
        return {"waited_ms": round((time.monotonic() - began) * 1000), "cancelled": sorted(cancelled)}

    async def _answer_idle(self, send) -> None:
        try:
            status, report = 200, await self.until_idle()
        except TimeoutError as still:
            status, report = 500, {"still_running": json.loads(str(still))}
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(report).encode()})


application = WorkTracker(ASGIStaticFilesHandler(site_application))
