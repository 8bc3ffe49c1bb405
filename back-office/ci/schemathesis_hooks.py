"""Schemathesis hooks for the back office: send text/csv bodies (settlement and credited files)."""
import schemathesis


@schemathesis.serializer("text/csv")
class CsvSerializer:
    def as_requests(self, context, value):
        if isinstance(value, bytes):
            return {"data": value}
        return {"data": str(value).encode("utf-8")}

    def as_werkzeug(self, context, value):
        return self.as_requests(context, value)
