"""Client worker processes: the driver's pipes to them, and how a failed connect is named."""

import asyncio
import time

from websockets.exceptions import ConnectionClosed, InvalidStatus


class WorkerPipes:
    """Talk to the client worker processes: send each a command, gather their answers."""

    pipes: list
    workers: list

    def stop_workers(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("exit", None))
            except OSError:
                pass
        for process in self.workers:
            process.join(10)
            if process.is_alive():
                process.kill()

    def ask(self, command: str, payload=None, timeout: float = 60) -> list:
        for pipe in self.pipes:
            pipe.send((command, payload))
        answers = []
        deadline = time.monotonic() + timeout
        for pipe in self.pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"a worker did not answer {command!r} within {timeout:.0f} s")
            answers.append(pipe.recv())
        return answers

    async def ask_async(self, command: str, payload=None, timeout: float = 60) -> list:
        return await asyncio.get_running_loop().run_in_executor(None, self.ask, command, payload, timeout)


async def commands(conn, deadline: float):
    """The driver's (command, payload) pairs as a worker process receives them (WorkerPipes.ask sends
    them), until `exit` comes, the pipe closes, or `deadline` (time.monotonic()) passes."""
    loop = asyncio.get_running_loop()
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            command, payload = await asyncio.wait_for(loop.run_in_executor(None, conn.recv), remaining)
        except (TimeoutError, EOFError):
            return
        if command == "exit":
            return
        yield command, payload


def failure_reason(error: BaseException) -> str:
    if isinstance(error, InvalidStatus):
        return f"http {error.response.status_code}"
    if isinstance(error, ConnectionClosed):
        return f"closed {error.rcvd.code if error.rcvd else 'abnormally'} before snapshot"
    if isinstance(error, TimeoutError):
        return "timeout"
    return type(error).__name__
