"""The emulator's HTTP types, from the lab's one HTTP server (`lab.httpserver`)."""

from lab.httpserver import Handler, HttpRequest, HttpResponse, StreamedBody

__all__ = ["Handler", "HttpRequest", "HttpResponse", "StreamedBody"]
