# cython: language_level=3
"""The compiled floor of the server benchmarks: ``http_raw.py``'s raw protocol as a Cython
class, answering with fastevents' own dispatch (``EventProcessor.process_event``).

    python -m benchmarks.http_raw --answer events-compiled

Built on first use by ``pyximport`` (Cython and a C compiler needed) into ``build/pyxbld``.
What it measures: how fast ``fastevents serve``'s direct path could be if the HTTP protocol
around the dispatch cost nothing in Python -- parser callbacks are C calls, the state is C
fields -- with no limit, no timeout and no header checked: no server should run it. The
fixed-answer floor minus this is the share of a request's CPU that the event's own work
(decoding, the handler, encoding) takes on this stack.
"""

import httptools

cdef bytes _HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"


cdef class RawEventsProtocol:
    """Answers each complete request with ``answer(body)`` (an events processor's bytes)."""

    cdef object answer
    cdef object parser
    cdef object transport
    cdef object body

    def __init__(self, answer):
        self.answer = answer
        self.parser = httptools.HttpRequestParser(self)
        self.body = None

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.transport = None

    def eof_received(self):
        return None

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_body(self, body):
        if self.body is None:
            self.body = body
        else:
            self.body += body

    def on_message_complete(self):
        body = self.body
        self.body = None
        answer = self.answer(b"" if body is None else body)
        self.transport.write(_HEAD % len(answer) + answer)
        if not self.parser.should_keep_alive():
            self.transport.close()
