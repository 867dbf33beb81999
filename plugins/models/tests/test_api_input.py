"""A model version past 64 bits, through the real API server: a 400, not SQLite's overflow as a 500."""

import paperchain_models


async def test_a_version_past_64_bits_answers_400(paperchain_api):
    api = await paperchain_api(paperchain_models)
    for method, tail in (("POST", "/promote"), ("DELETE", "")):
        reply = await api.request(method, f"/api/v1/models/registry/m/versions/99999999999999999999{tail}", json={})
        assert reply.status == 400, reply
        assert "version must be a whole number" in reply.json["error"]["message"]
