"""Media with alt text: upload (v2, answered 200 when processed at once or 202 while it is processed),
GET /api/v1/media/:id until processed (206 while processing, then 200), describe, attach to a status."""

from __future__ import annotations

from mastodon_sandbox.contract.suite.support import eventually, png


def test_media_with_alt_text(writes, me):
    alt = f"A small red square, uploaded by the contract suite ({writes.tag})"
    upload = me.api.post("/api/v2/media", files={"file": ("square.png", png(), "image/png")}, data={"description": alt},
                         expect=(200, 202))
    media = upload.body
    writes.cleanup.add("media", media["id"], me.id, me.username)
    assert media["type"] == "image" and media["description"] == alt

    def processed():
        answer = me.api.get(f"/api/v1/media/{media['id']}", expect=(200, 206))
        return answer if answer.status == 200 else None
    assert eventually("the media's processing", processed, timeout=60).body["url"]

    described = me.api.put(f"/api/v1/media/{media['id']}", data={"description": alt + "."}).body
    assert described["description"] == alt + "."
    status = writes.post(me, f"a picture {writes.tag}", **{"media_ids[]": [media["id"]]})
    writes.cleanup.done("media", media["id"], me.id)  # it now goes with its status
    assert [(m["id"], m["description"]) for m in status["media_attachments"]] == [(media["id"], alt + ".")]
