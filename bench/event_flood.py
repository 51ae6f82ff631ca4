#!/usr/bin/env python3
"""Docker event generators for bench/event_rate.sh (issue 6, benchmark 5). Standard library only.

  event_flood.py kill  --socket S --rate-file F --containers ID[,ID...] [--action kill|exec_create]
                       [--connections N] [--stats FILE]
  event_flood.py proxy --listen P --upstream S --rate-file F --template FILE [--stats FILE]

kill: real events from the real dockerd. Sends `POST /containers/ID/kill?signal=SIGWINCH` (one
  `kill` event each; the idle containers ignore SIGWINCH) or `POST /containers/ID/exec` with
  `{"Cmd":["true"]}` (one `exec_create: true ` event each, never started), round robin over the
  containers, over N keep-alive connections, paced at the rate in F (re-read every 100 ms; 0
  pauses). When dockerd cannot keep up the generator runs as fast as it answers: the rate
  reached is what the independent subscriber of event_rate.sh counts.

proxy: for rates dockerd cannot produce. A unix socket in front of the real dockerd that forwards
  every connection byte for byte, except a connection whose first request is `GET /events`
  (k8sinpodd's event stream opens one for it, as `curl` does): the request goes upstream
  unchanged, the answer comes back unchanged, and into its chunked body, between dockerd's own
  events, the proxy interleaves copies of the event in --template (a real event captured from
  this dockerd) with fresh `time`/`timeNano`, at the rate in F. One generator feeds every
  subscriber the same events, as dockerd's publisher does, and each subscriber gets only the
  events its `filters` admit under dockerd 20.10's rules (daemon/events/filter.go): keys ANDed,
  values ORed; `event` exact (prefix for exec_create/exec_start/health_status); `type`,
  `scope` exact; `label` all of key or key=value; container/network/volume/... a prefix of the
  actor's ID or its `name`. With a key it does not model (`image`), or with `since`/`until`,
  it injects nothing into that stream. Like dockerd, which waits 100 ms for a slow subscriber
  and then drops the event for it (pubsub), the proxy drops an event for a subscriber whose
  unsent output exceeds --backlog bytes, and counts the drops (`dropped`, and `dropped.LABEL`
  per subscriber, LABEL being its User-Agent without version, `+filters` when it set some:
  `k8sinpodd+filters`); `backlog_max.LABEL` is the largest unsent output seen since the rate
  last changed.

--stats FILE: rewritten every second and at exit with `key value` lines (sent, errors, dropped,
  backlog_max, ...), read by event_rate.sh. Ends on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import urllib.parse

# Event kinds dockerd matches by prefix when the filter names them without a colon.
FUZZY_EVENTS = ("health_status", "exec_create", "exec_start")
# Filter keys that match an actor's ID prefix or its `name` attribute.
NAME_KEYS = ("container", "network", "volume", "plugin", "node", "service", "secret", "config",
             "daemon")


def log(msg):
    print(f"event_flood: {msg}", file=sys.stderr, flush=True)


class RateFile:
    """The target rate, re-read from a file every 100 ms (missing or empty: 0)."""

    def __init__(self, path):
        self.path = path
        self.rate = 0.0

    async def watch(self):
        while True:
            try:
                with open(self.path, encoding="ascii") as f:
                    text = f.read().strip()
                self.rate = float(text) if text else 0.0
            except (OSError, ValueError):
                self.rate = 0.0
            await asyncio.sleep(0.1)


class Pacer:
    """Hands out send slots at the current rate; never lets a backlog of more than 1 s build up."""

    def __init__(self, rate_file):
        self.rate_file = rate_file
        self.start = time.monotonic()
        self.issued = 0
        self.rate = 0.0

    def take(self, now):
        """How many slots are due at `now`; they count as issued."""
        rate = self.rate_file.rate
        if rate != self.rate:  # a new rate starts a new schedule
            self.rate, self.start, self.issued = rate, now, 0
        if rate <= 0:
            return 0
        target = int((now - self.start) * rate)
        if target - self.issued > rate:  # more than 1 s behind: forget the past
            self.start, self.issued = now - 1.0, 0
            target = int(rate)
        n = max(0, target - self.issued)
        self.issued += n
        return n


class Stats:
    def __init__(self, path):
        self.path = path
        self.values = {}

    def add(self, key, n=1):
        self.values[key] = self.values.get(key, 0) + n

    def peak(self, key, value):
        self.values[key] = max(self.values.get(key, 0), value)

    def write(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            for key in sorted(self.values):
                f.write(f"{key} {self.values[key]}\n")
        os.replace(tmp, self.path)

    async def keep_written(self):
        while True:
            self.write()
            await asyncio.sleep(1.0)


async def read_head(reader):
    """The head of an HTTP message up to and including the blank line."""
    return await reader.readuntil(b"\r\n\r\n")


def header(head, name):
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().lower()
    return None


async def read_response(reader):
    """One response: the status code; the body is read (Content-Length or chunked) and dropped."""
    head = await read_head(reader)
    status = int(head.split(b" ", 2)[1])
    if header(head, b"transfer-encoding") == b"chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        length = int(header(head, b"content-length") or b"0")
        if length:
            await reader.readexactly(length)
    return status


# ---- kill: real events ---------------------------------------------------------------------------


async def kill_main(args):
    rate_file = RateFile(args.rate_file)
    stats = Stats(args.stats)
    pacer = Pacer(rate_file)
    containers = [c for c in args.containers.split(",") if c]
    if not containers:
        sys.exit("event_flood: --containers is empty")
    if args.action == "kill":
        requests = [(f"POST /containers/{c}/kill?signal=SIGWINCH HTTP/1.1\r\nHost: docker\r\n"
                     "Content-Length: 0\r\n\r\n").encode() for c in containers]
    else:
        body = b'{"Cmd":["true"]}'
        requests = [(f"POST /containers/{c}/exec HTTP/1.1\r\nHost: docker\r\n"
                     "Content-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n").encode() + body for c in containers]
    slots = asyncio.Queue()

    async def schedule():
        while True:
            for _ in range(pacer.take(time.monotonic())):
                slots.put_nowait(None)
            # Slots nobody took within 1 s are dropped: dockerd is the limit, not the pacer.
            while slots.qsize() > max(pacer.rate, 1):
                slots.get_nowait()
            await asyncio.sleep(0.002)

    async def worker(index):
        n = index
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(args.socket)
            except OSError as e:
                stats.add("errors")
                log(f"connect {args.socket}: {e}")
                await asyncio.sleep(0.5)
                continue
            try:
                while True:
                    await slots.get()
                    writer.write(requests[n % len(requests)])
                    n += args.connections
                    status = await read_response(reader)
                    if status // 100 == 2:
                        stats.add("sent")
                    else:
                        stats.add("errors")
                        stats.values["last_status"] = status
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                stats.add("errors")
                log(f"connection {index}: {e!r}")
            finally:
                writer.close()

    tasks = [rate_file.watch(), stats.keep_written(), schedule()]
    tasks += [worker(i) for i in range(args.connections)]
    await run_until_signal(tasks, stats)


# ---- proxy: injected events ----------------------------------------------------------------------


def parse_filters(query):
    """dockerd's `filters` parameter: {"key": ["v", ...]} or the legacy {"key": {"v": true}}."""
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    raw = params.get("filters", [""])[0]
    filters = {}
    if raw:
        for key, values in json.loads(raw).items():
            filters[key] = list(values) if isinstance(values, (list, dict)) else [values]
    return params, filters


def admits(filters, event):
    """Whether dockerd 20.10 would send `event` to a subscriber with these filters."""
    actor = event.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    for key, values in filters.items():
        if not values:
            continue
        if key == "event":
            action = event.get("Action", "")
            fuzzy = any(v in FUZZY_EVENTS for v in values)
            if not any(action == v or (fuzzy and action.startswith(v)) for v in values):
                return False
        elif key in ("type", "scope"):
            field = "Type" if key == "type" else "scope"
            if event.get(field, "") not in values:
                return False
        elif key == "label":
            for want in values:
                k, eq, v = want.partition("=")
                if k not in attributes or (eq and attributes[k] != v):
                    return False
        elif key in NAME_KEYS:
            ident, name = actor.get("ID", ""), attributes.get("name", "")
            if not any(ident.startswith(v) or name.startswith(v) for v in values):
                return False
        else:
            return None  # a key not modelled here: inject nothing
    return True


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


class Subscriber:
    def __init__(self, writer, label):
        self.writer = writer
        self.label = label  # the User-Agent, "+filters" when it asked for some: names its stats


class Proxy:
    def __init__(self, args):
        self.args = args
        self.stats = Stats(args.stats)
        self.rate_file = RateFile(args.rate_file)
        self.pacer = Pacer(self.rate_file)
        with open(args.template, encoding="utf-8") as f:
            self.template = json.loads(f.readline())
        # The template serialized once around its two times: a line costs two integer formats.
        marked = dict(self.template, time="\0time", timeNano="\0nano")
        text = json.dumps(marked, separators=(",", ":"))
        head, _, rest = text.partition(json.dumps("\0time"))
        middle, _, tail = rest.partition(json.dumps("\0nano"))
        self.parts = (head, middle, tail)
        self.subscribers = []

    def synthetic(self, count):
        """`count` copies of the template, timed now, each framed as one HTTP chunk."""
        now_ns = time.time_ns()
        head, middle, tail = self.parts
        out = []
        for i in range(count):
            ns = now_ns + i  # distinct, increasing, as dockerd's are
            line = f"{head}{ns // 1_000_000_000}{middle}{ns}{tail}\n".encode()
            out.append(b"%x\r\n%s\r\n" % (len(line), line))
        return b"".join(out)

    async def generate(self):
        rate = None
        while True:
            await asyncio.sleep(0.001)
            n = self.pacer.take(time.monotonic())
            if self.pacer.rate != rate:  # backlog_max.* are the peaks since the rate last changed
                rate = self.pacer.rate
                for key in self.stats.values:
                    if key.startswith("backlog_max"):
                        self.stats.values[key] = 0
            if n == 0:
                continue
            self.stats.add("generated", n)
            data = self.synthetic(n)
            for sub in list(self.subscribers):
                if sub.writer.transport.is_closing():
                    self.subscribers.remove(sub)
                    continue
                backlog = sub.writer.transport.get_write_buffer_size()
                self.stats.peak("backlog_max." + sub.label, backlog)
                if backlog > self.args.backlog:
                    self.stats.add("dropped", n)
                    self.stats.add("dropped." + sub.label, n)
                    continue
                sub.writer.write(data)
                self.stats.add("injected", n)

    async def handle(self, client_r, client_w):
        try:
            await self.serve(client_r, client_w)
        except asyncio.CancelledError:  # shutting down
            client_w.close()

    async def serve(self, client_r, client_w):
        try:
            up_r, up_w = await asyncio.open_unix_connection(self.args.upstream)
        except OSError as e:
            log(f"upstream {self.args.upstream}: {e}")
            client_w.close()
            return
        try:
            head = await read_head(client_r)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            up_w.close()
            client_w.close()
            return
        up_w.write(head)
        method, _, rest = head.partition(b" ")
        target = rest.partition(b" ")[0].decode("latin-1")
        path, _, query = target.partition("?")
        if path.startswith("/v") and "/" in path[1:]:
            path = path[path.index("/", 1):]  # /v1.41/events -> /events
        if method == b"GET" and path == "/events":
            await self.events(head, target, query, client_r, client_w, up_r, up_w)
        else:
            await self.splice(client_r, client_w, up_r, up_w)

    async def splice(self, client_r, client_w, up_r, up_w):
        async def pipe(reader, writer):
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                if writer.can_write_eof():
                    try:
                        writer.write_eof()
                    except OSError:
                        pass

        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))
        client_w.close()
        up_w.close()

    async def events(self, request, target, query, client_r, client_w, up_r, up_w):
        params, filters = parse_filters(query)
        inject = admits(filters, self.template)
        if inject is None or "since" in params or "until" in params:
            log(f"{target}: filters or parameters not modelled, injecting nothing")
            inject = False
        agent = (header(request, b"user-agent") or b"-").decode("latin-1")
        log(f"subscriber agent={agent} filters={json.dumps(filters, separators=(',', ':'))} "
            f"{'injecting' if inject else 'pass-through'}")
        self.stats.values["subscribers_seen"] = self.stats.values.get("subscribers_seen", 0) + 1
        head = await read_head(up_r)
        client_w.write(head)
        if not head.startswith(b"HTTP/1.1 200") or header(head, b"transfer-encoding") != b"chunked":
            await self.splice(client_r, client_w, up_r, up_w)
            return
        sub = Subscriber(client_w, agent.split("/")[0] + ("+filters" if filters else ""))
        if inject:
            self.subscribers.append(sub)

        async def watch_client():
            # The subscriber sends nothing more: EOF or an error means it went away.
            try:
                while await client_r.read(4096):
                    pass
            except OSError:
                pass
            up_w.close()

        watcher = asyncio.ensure_future(watch_client())
        # dockerd's own events, re-framed one line per chunk so that injected chunks fall between
        # whole events; bytes unchanged.
        pending = b""
        try:
            while True:
                size = int((await up_r.readuntil(b"\r\n")).split(b";")[0], 16)
                data = await up_r.readexactly(size + 2)
                if size == 0:
                    break
                pending += data[:-2]
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    client_w.write(chunk(line + b"\n"))
                    self.stats.add("forwarded")
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            watcher.cancel()
            if sub in self.subscribers:
                self.subscribers.remove(sub)
            try:
                if pending:
                    client_w.write(chunk(pending))
                client_w.write(b"0\r\n\r\n")
            except OSError:
                pass
            client_w.close()
            up_w.close()

    async def main(self):
        server = await asyncio.start_unix_server(self.handle, path=self.args.listen,
                                                 limit=1 << 20)
        os.chmod(self.args.listen, 0o660)
        log(f"listening on {self.args.listen}, upstream {self.args.upstream}")
        async with server:
            await run_until_signal([self.rate_file.watch(), self.stats.keep_written(),
                                    self.generate(), self.watch_subscribers()], self.stats)

    async def watch_subscribers(self):
        # A subscriber that went away is noticed by its upstream reader; this only samples the
        # backlog between generator ticks so that backlog_max reflects idle periods too.
        while True:
            for sub in list(self.subscribers):
                backlog = sub.writer.transport.get_write_buffer_size()
                self.stats.peak("backlog_max." + sub.label, backlog)
            await asyncio.sleep(0.1)


async def run_until_signal(coroutines, stats):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    waiter = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait(tasks + [waiter], return_when=asyncio.FIRST_COMPLETED)
    for t in tasks + [waiter]:
        t.cancel()
    stats.write()
    for t in done:
        if t is not waiter and t.exception() is not None:
            raise t.exception()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    k = sub.add_parser("kill", help="real events: POST kill/exec to the real dockerd")
    k.add_argument("--socket", required=True)
    k.add_argument("--rate-file", required=True)
    k.add_argument("--containers", required=True)
    k.add_argument("--action", choices=("kill", "exec_create"), default="kill")
    k.add_argument("--connections", type=int, default=16)
    k.add_argument("--stats")
    p = sub.add_parser("proxy", help="injecting proxy in front of the real dockerd")
    p.add_argument("--listen", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--rate-file", required=True)
    p.add_argument("--template", required=True)
    p.add_argument("--backlog", type=int, default=1 << 20)
    p.add_argument("--stats")
    args = parser.parse_args()
    if args.mode == "kill":
        asyncio.run(kill_main(args))
    else:
        asyncio.run(Proxy(args).main())


if __name__ == "__main__":
    main()
