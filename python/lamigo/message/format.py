"""The GO message: a versioned binary format for one image.

Layout (version 2; integers big-endian, "varint" = unsigned LEB128):

    magic "LG" | version u8 | coders u8 (index coder << 4 | text coder) | policy u8
    varint height, width, latent height, latent width, codebook size K
    u16 index-prior fingerprint (0 with the fixed-length coder, which needs no prior)
    policy parameters (PRM: varint count, u32 seed; PDM: u8 pattern id; EBM: varint length + mask)
    index code table (image-huffman only: varint length + the image's own code, empty when the
    pre-shared prior's code is used; `lamigo.coding.index.CodeTable`)
    varint caption characters | varint length + coded caption
    varint length + coded indices (only the unmasked positions, row-major)
    u32 CRC-32 of everything before it

The control part (up to the index code table) is what the receiver needs before anything else;
the link layer sends it on its own, more strongly protected (see `encode_control`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import crcmod.predefined
import numpy as np

from lamigo.coding.index import DEFAULT_INDEX_CODER, INDEX_CODERS, IndexCoder, get_index_coder
from lamigo.coding.prior import IndexPrior
from lamigo.coding.text import TEXT_CODERS, get_text_coder
from lamigo.coding.wire import Reader, Writer
from lamigo.errors import ConfigError, MessageError
from lamigo.masking.policies import POLICIES, MaskingPolicy

#: our codec's name beside the classical ones (`lamigo.classical.BASELINES`), in every layer: the
#: codec column of `lamigo eval` and the SNR sweep, the loopback's codec choice
CODEC_NAME = "lami-go"
MAGIC = b"LG"
VERSION = 2
CRC_BYTES = 4
MAX_IMAGE_SIDE = 1 << 16
MAX_LATENT_SIDE = 4096
MAX_CODEBOOK = 1 << 20
MAX_CAPTION_CHARS = 1 << 16

crc32 = crcmod.predefined.mkPredefinedCrcFun("crc-32")


@dataclass(frozen=True)
class Geometry:
    """Image size (h, w), latent size (h', w') and codebook size K."""

    height: int
    width: int
    latent_height: int
    latent_width: int
    codebook_size: int

    def __post_init__(self) -> None:
        problems = []
        if not (0 < self.height <= MAX_IMAGE_SIDE and 0 < self.width <= MAX_IMAGE_SIDE):
            problems.append(f"image {self.height}x{self.width} outside 1..{MAX_IMAGE_SIDE}")
        if not (0 < self.latent_height <= MAX_LATENT_SIDE and 0 < self.latent_width <= MAX_LATENT_SIDE):
            problems.append(f"latent {self.latent_height}x{self.latent_width} outside 1..{MAX_LATENT_SIDE}")
        if not 2 <= self.codebook_size <= MAX_CODEBOOK:
            problems.append(f"codebook size {self.codebook_size} outside 2..{MAX_CODEBOOK}")
        if problems:
            raise ConfigError("bad geometry: " + "; ".join(problems))

    @property
    def latent_shape(self) -> tuple[int, int]:
        return (self.latent_height, self.latent_width)


#: Called with a message's geometry before its mask is built; raises MessageError to refuse a
#: message its receiver cannot decode (`ReceiverLimits.check`).
GeometryCheck = Callable[[Geometry], None]

DEFAULT_MAX_TOKENS = 256 * 256  #: latent tokens; a 1024x1024 image with the f=4 VQGAN
#: codebook size a receiver accepts where no model fixes it: paella-v3's 8192, the largest of
#: any model set here (a Huffman code of 2^20 codewords took 8-20 s and 200-300 MB to build)
DEFAULT_MAX_CODEBOOK = 1 << 13
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20  #: a 1024x1024 image at 2 bytes a token fits 8 times over


@dataclass(frozen=True)
class ReceiverLimits:
    """What a receiver can decode: at most `max_tokens` latent tokens, a codebook of
    `codebook_size` (where None, as with a model set that fixes none, any of at most
    `max_codebook`), latent sides a multiple of `latent_multiple`, messages of at most
    `max_message_bytes`. Checking the geometry on the control header alone keeps a forged
    header from costing more than its size."""

    max_tokens: int = DEFAULT_MAX_TOKENS
    codebook_size: int | None = None
    latent_multiple: int = 1
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_codebook: int = DEFAULT_MAX_CODEBOOK

    def __post_init__(self) -> None:
        if min(self.max_tokens, self.latent_multiple, self.max_message_bytes) < 1 or self.max_codebook < 2:
            raise ConfigError("receiver limits must be positive (and max_codebook at least 2)")

    @classmethod
    def for_models(cls, models: Any, **limits: int) -> ReceiverLimits:
        """What a model set (`lamigo.zoo.sets.ModelSet`) decodes: its codebook, latents
        whose image sides are multiples of `lamigo.images.SIZE_MULTIPLE`."""
        from lamigo.images import SIZE_MULTIPLE

        return cls(codebook_size=models.denoiser.codebook_size,
                   latent_multiple=SIZE_MULTIPLE // models.vqgan.downscale, **limits)

    def check(self, geometry: Geometry) -> None:
        tokens = geometry.latent_height * geometry.latent_width
        if tokens > self.max_tokens:
            raise MessageError(f"{geometry.latent_height}x{geometry.latent_width} tokens exceed this "
                               f"receiver's limit of {self.max_tokens}")
        if self.codebook_size is not None and geometry.codebook_size != self.codebook_size:
            raise MessageError(f"message uses a codebook of {geometry.codebook_size}, this receiver's model "
                               f"{self.codebook_size}: use the same model set on both ends")
        if self.codebook_size is None and geometry.codebook_size > self.max_codebook:
            raise MessageError(f"message uses a codebook of {geometry.codebook_size}, more than the "
                               f"{self.max_codebook} this receiver accepts")
        step = self.latent_multiple
        if geometry.latent_height % step or geometry.latent_width % step:
            raise MessageError(f"latent {geometry.latent_height}x{geometry.latent_width} is not a multiple "
                               f"of {step} on each side")


@dataclass(eq=False)
class GOMessage:
    """One image as sent: indices [h', w'] with -1 where `mask` is True (not sent).

    `index_code` is the index coder fitted to this message (`IndexCoder.fit`: its code table
    chosen) when one was chosen or read with it (`unpack_message`); packing and packetizing then
    code with it instead of fitting again. None: they fit one."""

    geometry: Geometry
    policy: MaskingPolicy
    mask: np.ndarray
    indices: np.ndarray
    caption: str = ""
    index_coder: str = DEFAULT_INDEX_CODER
    text_coder: str = "huffman"
    index_code: IndexCoder | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        shape = self.geometry.latent_shape
        self.mask = np.asarray(self.mask, dtype=bool)
        self.indices = np.asarray(self.indices, dtype=np.int64)
        if self.mask.shape != shape or self.indices.shape != shape:
            raise ConfigError(
                f"mask {self.mask.shape} and indices {self.indices.shape} must both have the "
                f"latent shape {shape}"
            )
        sent = self.indices[~self.mask]
        if sent.size and (sent.min() < 0 or sent.max() >= self.geometry.codebook_size):
            raise ConfigError(f"sent indices must lie in [0, {self.geometry.codebook_size})")
        self.indices = np.where(self.mask, -1, self.indices)
        if len(self.caption) > MAX_CAPTION_CHARS:
            raise ConfigError(f"caption longer than {MAX_CAPTION_CHARS} characters")
        try:
            self.caption.encode("utf-8")
        except UnicodeEncodeError as err:
            raise ConfigError(f"caption is not valid Unicode text: {err}") from None
        code = self.index_code
        if code is not None and (code.name != self.index_coder or code.codebook_size != self.geometry.codebook_size):
            raise ConfigError(f"index code {code.name!r} for K={code.codebook_size} does not code this message's "
                              f"{self.index_coder!r} indices of K={self.geometry.codebook_size}")

    @property
    def transmitted(self) -> np.ndarray:
        """The sent indices in row-major order."""
        return self.indices[~self.mask]


@dataclass(frozen=True)
class Control:
    """What the receiver must know before it can read anything else of a message."""

    geometry: Geometry
    policy: MaskingPolicy
    mask: np.ndarray = field(repr=False)
    index_coder: str
    text_coder: str
    prior_fingerprint: int
    mask_bytes: int = 0
    index_table: object | None = field(default=None, repr=False)  #: what the index coder's read_table read


def _prior_in_use(index_coder: str, codebook_size: int, prior: IndexPrior | None) -> IndexPrior | None:
    """The prior the index coder codes with (None for coders that need none)."""
    if not INDEX_CODERS.lookup(index_coder).uses_prior:
        return None
    return prior or IndexPrior.uniform(codebook_size)


def message_index_coder(msg: GOMessage, prior: IndexPrior | None, table_weight: float | None = 1.0) -> IndexCoder:
    """The index coder of `msg`: the one it carries (`GOMessage.index_code`) if that codes with
    `prior`, else one fitted to its indices (`IndexCoder.fit`); `table_weight` is what a control
    byte costs against an index byte (1 in a file; the link's is higher). `table_weight` None:
    no fitting, the pre-shared prior's code (no image table)."""
    used_prior = _prior_in_use(msg.index_coder, msg.geometry.codebook_size, prior)
    code = msg.index_code
    if code is not None and (used_prior is None or code.prior.digest == used_prior.digest):
        return code  # fitted once, where the message was made or read
    coder = get_index_coder(msg.index_coder, msg.geometry.codebook_size, used_prior)
    return coder if table_weight is None else coder.fit(msg.transmitted, table_weight)


def write_control(msg: GOMessage, out: Writer, prior: IndexPrior | None, coder: IndexCoder | None = None) -> int:
    """Write the control part, with the table of `coder` (default: `message_index_coder` for a
    file); returns how many of its bytes describe a per-message mask."""
    text_wire_id = get_text_coder(msg.text_coder).wire_id
    out.raw(MAGIC)
    out.u8(VERSION)
    out.u8(INDEX_CODERS.lookup(msg.index_coder).wire_id << 4 | text_wire_id)
    out.u8(msg.policy.wire_id)
    g = msg.geometry
    for value in (g.height, g.width, g.latent_height, g.latent_width, g.codebook_size):
        out.varint(value)
    used_prior = _prior_in_use(msg.index_coder, g.codebook_size, prior)
    out.u16(used_prior.fingerprint if used_prior else 0)
    before = len(out)
    msg.policy.write(msg.mask, out)
    mask_bytes = len(out) - before if msg.policy.sends_mask else 0
    (coder or message_index_coder(msg, prior)).write_table(out)
    return mask_bytes


def read_control(inp: Reader, accept: GeometryCheck | None = None) -> Control:
    """Read a control part; `accept` sees the geometry before any mask is built (default:
    `ReceiverLimits()`, which bounds the tokens)."""
    magic = inp.raw(len(MAGIC), "magic")
    if magic != MAGIC:
        raise MessageError(f"not a GO message: magic {magic!r}, expected {MAGIC!r}")
    version = inp.u8("version")
    if version != VERSION:
        raise MessageError(f"unsupported GO message version {version} (this receiver reads {VERSION})")
    coders = inp.u8("coder ids")
    index_cls = INDEX_CODERS.by_wire_id(coders >> 4)
    text_cls = TEXT_CODERS.by_wire_id(coders & 0x0F)
    if index_cls is None or text_cls is None:
        raise MessageError(f"unknown coder ids: index {coders >> 4}, text {coders & 0x0F}")
    policy_id = inp.u8("policy id")
    policy_cls = POLICIES.by_wire_id(policy_id)
    if policy_cls is None:
        raise MessageError(f"unknown masking policy id {policy_id}")
    sizes = [inp.varint(name) for name in ("height", "width", "latent height", "latent width", "codebook size")]
    try:
        geometry = Geometry(*sizes)
    except ConfigError as err:
        raise MessageError(str(err)) from None
    (accept or _DEFAULT_LIMITS.check)(geometry)
    fingerprint = inp.u16("index prior fingerprint")
    before = inp.position
    policy, mask = policy_cls.read(inp, geometry.latent_shape)
    mask_bytes = inp.position - before if policy_cls.sends_mask else 0
    table = index_cls.read_table(inp, geometry.codebook_size, int((~mask).sum()))
    return Control(geometry, policy, mask, index_cls.name, text_cls.name, fingerprint, mask_bytes, table)


def encode_control(msg: GOMessage, prior: IndexPrior | None = None, coder: IndexCoder | None = None) -> bytes:
    out = Writer()
    write_control(msg, out, prior, coder)
    return out.getvalue()


def decode_control(data: bytes, accept: GeometryCheck | None = None) -> Control:
    inp = Reader(data, "control part")
    control = read_control(inp, accept)
    inp.expect_end()
    return control


def peek_control(data: bytes, accept: GeometryCheck | None = None) -> Control:
    """The control part of a packed message, read without checking the rest."""
    return read_control(Reader(bytes(data)), accept)


def check_prior(control: Control, prior: IndexPrior | None) -> IndexPrior | None:
    """The prior to decode this message's indices with; MessageError if ours differs."""
    prior = _prior_in_use(control.index_coder, control.geometry.codebook_size, prior)
    if prior is None:
        return None
    if prior.codebook_size != control.geometry.codebook_size:
        raise MessageError(
            f"message uses a codebook of {control.geometry.codebook_size}, this receiver's index "
            f"prior has {prior.codebook_size} entries"
        )
    if prior.fingerprint != control.prior_fingerprint:
        raise MessageError(
            f"message was coded with index prior 0x{control.prior_fingerprint:04x}, this receiver "
            f"holds 0x{prior.fingerprint:04x}: use the same model set on both ends"
        )
    return prior


def control_index_coder(control: Control, prior: IndexPrior | None) -> IndexCoder:
    """The coder that decodes this message's index packets: the prior checked (`check_prior`),
    the message's own code table, if any, applied."""
    used_prior = check_prior(control, prior)
    coder = get_index_coder(control.index_coder, control.geometry.codebook_size, used_prior)
    return coder.with_table(control.index_table)


_DEFAULT_LIMITS = ReceiverLimits()


@dataclass(frozen=True)
class Sections:
    """Bytes of each part of a packed message (they add up to its length)."""

    header: int
    mask: int
    text: int
    indices: int

    @property
    def total(self) -> int:
        return self.header + self.mask + self.text + self.indices


def pack_message(msg: GOMessage, prior: IndexPrior | None = None, table_weight: float | None = 1.0) -> bytes:
    """Serialise `msg`; `prior` is the pre-shared index statistics (uniform when None). The
    index code is the one `msg` carries, else fitted with `table_weight`, or the prior's own
    code where `table_weight` is None (`message_index_coder`)."""
    return pack_sections(msg, prior, table_weight)[0]


def pack_sections(msg: GOMessage, prior: IndexPrior | None = None,
                  table_weight: float | None = 1.0) -> tuple[bytes, Sections]:
    """`pack_message`, with the bytes of each part of what it wrote."""
    out = Writer()
    coder = message_index_coder(msg, prior, table_weight)
    mask_bytes = write_control(msg, out, prior, coder)
    text = get_text_coder(msg.text_coder).encode(msg.caption)
    out.varint(len(msg.caption))
    out.blob(text)
    coded = coder.encode(msg.transmitted)
    out.blob(coded)
    out.u32(crc32(out.getvalue()))
    data = out.getvalue()
    return data, Sections(
        header=len(data) - mask_bytes - len(text) - len(coded),
        mask=mask_bytes,
        text=len(text),
        indices=len(coded),
    )


def unpack_message(data: bytes, prior: IndexPrior | None = None, accept: GeometryCheck | None = None) -> GOMessage:
    """Parse a packed message. Anything malformed, or refused by `accept` (see
    `read_control`), raises MessageError saying what is wrong."""
    return unpack_sections(data, prior, accept)[0]


def unpack_sections(data: bytes, prior: IndexPrior | None = None,
                    accept: GeometryCheck | None = None) -> tuple[GOMessage, Sections]:
    """`unpack_message`, with the bytes of each part of what it read."""
    data = bytes(data)
    minimum = len(MAGIC) + 3 + CRC_BYTES
    if len(data) < minimum:
        raise MessageError(f"message truncated: {len(data)} bytes, a GO message has at least {minimum}")
    inp = Reader(data[:-CRC_BYTES])
    control = read_control(inp, accept)  # magic and version first: a wrong version is named as such
    stored_crc = int.from_bytes(data[-CRC_BYTES:], "big")
    if crc32(data[:-CRC_BYTES]) != stored_crc:
        raise MessageError("message corrupted or truncated: CRC-32 mismatch")
    coder = control_index_coder(control, prior)
    n_chars = inp.varint("caption length")
    if n_chars > MAX_CAPTION_CHARS:
        raise MessageError(f"caption length {n_chars} exceeds {MAX_CAPTION_CHARS}")
    text = inp.blob("caption")
    caption = get_text_coder(control.text_coder).decode(text, n_chars)
    coded = inp.blob("indices")
    inp.expect_end()
    geometry = control.geometry
    sent = coder.decode(coded, int((~control.mask).sum()))
    indices = np.full(geometry.latent_shape, -1, dtype=np.int64)
    indices[~control.mask] = sent
    msg = GOMessage(geometry, control.policy, control.mask, indices, caption, control.index_coder, control.text_coder,
                    coder)
    mask_bytes = control.mask_bytes
    return msg, Sections(len(data) - mask_bytes - len(text) - len(coded), mask_bytes, len(text), len(coded))
