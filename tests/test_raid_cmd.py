"""``dma-audio raid``: a file striped with P+Q from the engine, two disks lost and rebuilt,
bit-exact whatever the length, the disk count and the pair lost."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from demos.cli import main


@settings(max_examples=15)
@given(size=st.integers(1, 50_000), n=st.integers(2, 8), pick=st.data(),
       chunk=st.sampled_from([8, 512, 4096]))
def test_two_lost_disks_are_rebuilt_bit_exact(tmp_path_factory, size, n, pick, chunk):
    tmp = tmp_path_factory.mktemp("raid")
    f = tmp / "in.bin"
    f.write_bytes(bytes((i * 7 + size) & 0xFF for i in range(size)))
    a = pick.draw(st.integers(0, n - 2))
    b = pick.draw(st.integers(a + 1, n - 1))
    rc = main(["raid", str(f), "--disks", str(n), "--chunk", str(chunk), "--lose",
               f"{b},{a}", "--json"])
    assert rc == 0


def test_the_summary_names_the_chain_it_used(tmp_path, capsys):
    f = tmp_path / "in.bin"
    f.write_bytes(bytes(range(256)) * 100)
    assert main(["raid", str(f), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["bit_exact"] and doc["lost"] == [0, 1] and doc["stripes"] == 2
    assert doc["write_ops"] == ["async_gen_syndrome: dma2chan0"]
    rebuild = doc["rebuild_ops"]
    assert [op.split(":")[0] for op in rebuild] == [
        "async_gen_syndrome", "async_xor", "async_xor", "async_sum_product", "async_xor"]
    assert all("(fenced)" in op for op in rebuild[:-1]) and "(fenced)" not in rebuild[-1]


@pytest.mark.parametrize("argv,msg", [(["--disks", "1"], "2 to 16"),
                                      (["--chunk", "12"], "multiple of 8"),
                                      (["--lose", "2,2"], "two different"),
                                      (["--lose", "0,9"], "two different"),
                                      (["--lose", "x,y"], "two disk numbers")])
def test_bad_options_are_one_line(tmp_path, capsys, argv, msg):
    f = tmp_path / "in.bin"
    f.write_bytes(b"x" * 100)
    assert main(["raid", str(f), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg in err[0]


def test_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["raid", str(tmp_path / "none.bin")]) == 2
    assert "No such file" in capsys.readouterr().err


def test_an_empty_file_or_a_pipe_is_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert main(["raid", str(empty)]) == 2
    assert main(["raid", "/dev/null"]) == 2  # a character device: not a file to stripe
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{empty}: is empty; raid stripes a file and reads it back to check",
                   "/dev/null: is not a regular file; raid stripes a file and reads it back "
                   "to check"]
