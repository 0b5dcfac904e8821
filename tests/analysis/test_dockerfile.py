"""The history as a Dockerfile (analysis/dockerfile.py): each builder's form
of created_by back to its instruction; each step's bytes added, bytes hid
and findings, by hand on the bundled classic image."""

from __future__ import annotations

import pytest

from layerscope.analysis import analyse
from layerscope.analysis.dockerfile import instruction
from tests.helpers import loaded

CLASSIC = "layerscope/data/classic-docker.tar"


@pytest.mark.parametrize("created_by, expected", [
    # docker (classic)
    ("/bin/sh -c #(nop)  ENV LANG=C.UTF-8", "ENV LANG=C.UTF-8"),
    ("/bin/sh -c #(nop)  CMD [\"nginx\" \"-g\" \"daemon off;\"]", 'CMD ["nginx", "-g", "daemon off;"]'),
    ('/bin/sh -c #(nop)  ENTRYPOINT ["/bin/sh" "-c" "echo \\"hi\\""]', 'ENTRYPOINT ["/bin/sh", "-c", "echo \\"hi\\""]'),
    ("/bin/sh -c #(nop) ADD file:076f7372f6ac4eac8f695cc2793d90aec0b0dab460477db88b6e2f0570dababe in / ",
     "ADD <file:076f7372f6ac…> /"),
    ("/bin/sh -c #(nop) COPY dir:0123456789abcdef0123456789 in /app ", "COPY <dir:0123456789ab…> /app"),
    ("/bin/sh -c #(nop) COPY multi:0123456789abcdef0123456789 in /app/ ", "COPY <multi:0123456789ab…> /app/"),
    ("/bin/sh -c apt-get update && apt-get install -y curl", "RUN apt-get update && apt-get install -y curl"),
    ("/bin/sh -c #(nop)  EXPOSE 80/tcp", "EXPOSE 80/tcp"),
    ("/bin/sh -c #(nop) WORKDIR /app", "WORKDIR /app"),
    # buildkit
    ("RUN /bin/sh -c apt-get update # buildkit", "RUN apt-get update"),
    ("COPY . /app # buildkit", "COPY . /app"),
    ("|2 A=1 B=2 /bin/sh -c make all", "RUN make all"),
    ("WORKDIR /srv", "WORKDIR /srv"),
    ("ARG VERSION=1.2", "ARG VERSION=1.2"),
    # buildah, kaniko
    ("/bin/bash -c make", "RUN make"),
    ("RUN apt-get install -y vim-tiny", "RUN apt-get install -y vim-tiny"),
    ("ADD rootfs.tar.xz / # a note", "ADD rootfs.tar.xz / # a note"),  # kept: mid-line, # is no comment
    ("apt-get install x", "RUN apt-get install x"),  # a bare command
    ("", ""),
    ("   ", ""),
])
def test_instruction(created_by, expected):
    assert instruction(created_by) == expected


def test_a_huge_step_costs_only_its_beginning():
    s = instruction("/bin/sh -c echo " + "x" * 5_000_000)
    assert s.startswith("RUN echo x") and len(s) < 200_000


def test_steps_of_the_classic_image():
    g = loaded(CLASSIC)
    a = analyse(g, g.images[0])
    steps = a.dockerfile_steps()
    assert [s.layer for s in steps] == [0, None, 1, 2, 3, 4, 5, 6, None]
    by_layer = {s.layer: s for s in steps if s.layer is not None}
    assert by_layer[0].base and not by_layer[1].base
    assert [(s.bytes_added, s.bytes_hidden) for L, s in sorted(by_layer.items())] == [
        (113284, 0), (93664, 1990), (67926, 2507), (0, 94496), (5, 2427), (60000, 60000), (40000, 40000)]
    # what a step hid adds up to the waste; what the steps add, to the image's size
    assert sum(s.bytes_hidden for s in by_layer.values()) == a.waste.wasted_bytes
    assert sum(s.bytes_added for s in by_layer.values()) == a.waste.size
    # a finding is under the step that stored it, and under the one that hid it
    s5 = by_layer[5]
    assert s5.instruction == "RUN chmod 0700 /usr/bin/vim.tiny"
    assert s5.stored == [] and [(f.kind, f.layer, f.bytes) for f in s5.hid] == [("metadata-copy-up", 1, 60000)]
    assert ("metadata-copy-up", 5) in [(f.kind, f.fixed_by) for f in by_layer[1].stored]
    assert sorted(f.bytes for s in steps for f in s.stored) == sorted(f.bytes for f in a.findings())
