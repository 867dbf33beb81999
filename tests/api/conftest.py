import pytest
from api_support import TestPlugin


@pytest.fixture
async def api(paperchain_api):
    """A served API with the test plugin, an admin token, and small limits for the limit tests."""
    return await paperchain_api(TestPlugin(), api={"max_upload": 1_000_000, "max_body": 64 * 1024})
