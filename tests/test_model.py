"""The layer graph's model: how an image is matched by a reference."""


def test_image_refs_match_tags_repos_and_digests_only():
    from layerscope.model import Image, Platform

    im = Image(refs=["docker.io/library/nginx:1.25"], digest="sha256:" + "ab12" * 16, config_digest="sha256:" + "cd" * 32,
               platform=Platform("linux", "amd64"), config={}, raw_config={}, layers=[], history=[],
               history_mapped=True)
    for ref in ("docker.io/library/nginx:1.25", "nginx:1.25", "nginx", "sha256:ab12ab", "ab12ab12", "cdcd"):
        assert im.matches_ref(ref), ref
    for ref in ("nope:1", "nginx:1.2", "1", "ab", "sha256:ffff", "ngin"):
        assert not im.matches_ref(ref), ref
    reg = Image(refs=["localhost:5000/team/app:v2"], digest="", config_digest="", platform=Platform(), config={},
                raw_config={}, layers=[], history=[], history_mapped=False)
    assert reg.matches_ref("localhost:5000/team/app") and not reg.matches_ref("localhost")
