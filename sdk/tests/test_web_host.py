"""kernel_of and the shared query parser: what plugin route handlers use instead of closures."""

import asyncio

import attrs
import pytest

from paperchain_sdk import InputError
from paperchain_sdk.web import KERNEL_KEY, endpoint, kernel_of, parse_query, read_query

web = pytest.importorskip("aiohttp.web")
test_utils = pytest.importorskip("aiohttp.test_utils")


def _positive(instance, attribute, value):
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


@attrs.define
class Listing:
    term: str  # required
    limit: int = attrs.field(default=20, validator=_positive)
    ratio: float | None = None
    unread: bool = False


def test_parse_query_converts_by_field_type():
    got = parse_query(Listing, {"term": "x", "limit": "5", "ratio": "0.5", "unread": "true"})
    assert got == Listing(term="x", limit=5, ratio=0.5, unread=True)
    assert parse_query(Listing, {"term": "y"}) == Listing(term="y")


@pytest.mark.parametrize(("query", "message"), [
    ({"term": "x", "limit": "\u00b2"}, "query parameter limit must be a whole number"),
    ({"term": "x", "limit": str(2**63)}, "query parameter limit must be a whole number"),
    ({"term": "x", "ratio": "nan"}, "query parameter ratio='nan' is not a valid float"),
    ({"term": "x", "unread": "yes"}, "query parameter unread='yes' is not a valid bool"),
    ({"term": "x", "limit": "0"}, "invalid query parameters: limit must be at least 1, got 0"),
    ({"term": "x", "size": "3"}, "unknown query parameter(s) size"),
    ({"limit": "3"}, "the query parameter(s) term are required"),
])
def test_bad_queries_are_input_errors_naming_the_parameter(query, message):
    with pytest.raises(InputError) as caught:
        parse_query(Listing, query)
    assert caught.value.message.startswith(message)


@endpoint(summary="echo", query=Listing)
async def _echo(request):
    asked = read_query(request, Listing)
    return web.json_response({"kernel": kernel_of(request)["name"], "term": asked.term, "limit": asked.limit})


def test_module_level_handlers_reach_their_apps_kernel():
    async def scenario():
        answers = []
        for name in ("first", "second"):  # two apps, two kernels, one handler
            app = web.Application()
            app[KERNEL_KEY] = {"name": name}
            app.router.add_get("/echo", _echo)
            async with test_utils.TestClient(test_utils.TestServer(app, host="127.0.0.1")) as client:
                answers.append(await (await client.get("/echo", params={"term": "t", "limit": "3"})).json())
        return answers

    assert asyncio.run(scenario()) == [{"kernel": "first", "term": "t", "limit": 3},
                                       {"kernel": "second", "term": "t", "limit": 3}]
