"""A receiver refuses what it cannot decode from the control header alone, before any mask."""

import pytest

from lamigo.cli.main import main
from lamigo.coding.wire import Writer
from lamigo.errors import MessageError
from lamigo.message import VERSION, ReceiverLimits, peek_control, unpack_message
from lamigo.message.format import crc32


def forged_message(latent: int, policy: int = 1, codebook: int = 512) -> bytes:
    """A well-formed GO message claiming a latent of `latent` x `latent` tokens, written byte
    by byte (a transmitter would never make it): 34 bytes for PRM."""
    out = Writer()
    out.raw(b"LG")
    out.u8(VERSION)
    out.u8(0x11)
    out.u8(policy)
    for value in (4 * latent, 4 * latent, latent, latent, codebook):
        out.varint(value)
    out.u16(0)
    if policy == 1:  # PRM: masked count, seed
        out.varint(0)
        out.u32(0)
    else:  # EBM: a 4-byte mask that decodes to any size
        out.blob(bytes(4))
    for _ in range(2):  # no caption, no indices
        out.varint(0)
    out.blob(b"")
    out.u32(crc32(out.getvalue()))
    return out.getvalue()


@pytest.mark.parametrize("policy", [1, 3], ids=["prm", "ebm"])
def test_a_huge_latent_is_refused_by_default(policy, masks_read):
    data = forged_message(4096, policy)
    with pytest.raises(MessageError, match="4096x4096 tokens exceed this receiver's limit of 65536"):
        unpack_message(data)
    with pytest.raises(MessageError, match="exceed"):
        peek_control(data)
    assert masks_read == []  # refused before any mask (one took 24 s and 2 GB; bench/bench_attacks.py times it)
    peek_control(forged_message(16, policy))
    assert masks_read  # the same header at a size this receiver takes does reach the mask


def test_limits_name_what_they_refuse():
    data = forged_message(16)
    assert peek_control(data).geometry.latent_shape == (16, 16)
    with pytest.raises(MessageError, match="codebook of 512, this receiver's model 8192"):
        peek_control(data, ReceiverLimits(codebook_size=8192).check)
    with pytest.raises(MessageError, match="16x16 is not a multiple of 32"):
        unpack_message(data, accept=ReceiverLimits(latent_multiple=32).check)


def test_lamigo_decode_refuses_what_its_models_cannot_decode(tmp_path, capsys):
    """Regression: a valid 34-byte message claiming a 4096x4096 latent grew past 8 GB."""
    for name, data in (("huge", forged_message(4096)), ("codebook", forged_message(16, codebook=1024))):
        path = tmp_path / f"{name}.lgo"
        path.write_bytes(data)
        assert main(["decode", str(path), "-o", str(tmp_path / "out.png"), "--model-set", "tiny",
                     "--device", "cpu"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and ("exceed" in err or "codebook of 1024" in err)
    assert not (tmp_path / "out.png").exists()
