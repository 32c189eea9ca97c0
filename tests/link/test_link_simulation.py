"""simulate_link, the one link simulation of `lamigo simulate` and `lamigo eval`."""

from __future__ import annotations

from lamigo.link import noise_setup
from lamigo.link.simulation import LinkRun, simulate_link


def _counts(run: LinkRun) -> tuple:
    return run.packets, run.packets_dropped, run.packets_rejected, run.bits_flipped


def test_a_clean_link_delivers_every_token(build_message):
    message = build_message()
    setup = noise_setup(1)
    run = simulate_link(message, setup.channel(0.0, seed=0), setup.link_config())
    assert run.packets and run.packets_lost == run.packets_dropped == run.bits_flipped == 0
    assert run.bytes_on_air == sum(len(packet) for packet in run.packets)
    assert run.received is not None and not run.received.regenerate[~message.mask].any()


def test_counts_are_this_messages_and_a_lost_control_block_is_none(build_message):
    message = build_message()
    setup = noise_setup(1)
    lossy = simulate_link(message, setup.channel(0.3, seed=5), setup.link_config())
    again = simulate_link(message, setup.channel(0.3, seed=5), setup.link_config())
    assert _counts(lossy) == _counts(again)  # deterministic for a channel seed
    assert 0 < lossy.packets_dropped == lossy.packets_lost < len(lossy.packets)
    gone = simulate_link(message, setup.channel(1.0, seed=0), setup.link_config())
    assert gone.received is None and gone.packets_lost == len(gone.packets)
    flips = noise_setup(2)
    flipped = simulate_link(build_message(index_coder="fixed"), flips.channel(1e-2, seed=1), flips.link_config())
    assert flipped.bits_flipped > 0
