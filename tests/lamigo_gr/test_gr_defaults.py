"""One place per default: each block's GRC YAML default equals its Python default, the link
parameters' Python defaults are the core library's (`LinkConfig`, the reassembler), and every
flowgraph's link parameters default to the same values."""

import importlib
import inspect
import re
from dataclasses import fields

import pytest
import yaml

from lamigo.link import LinkConfig
from lamigo.link.classical import MAX_PIXELS
from lamigo.link.collector import DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT
from lamigo.message import DEFAULT_MAX_TOKENS
from lamigo_gr.apps.flowgraphs import FLOWGRAPHS_DIR, GRC_BLOCKS_DIR, flowgraph_parameters

BLOCK_FILES = sorted(GRC_BLOCKS_DIR.glob("*.block.yml"))
FLOWGRAPHS = sorted(path.stem for path in FLOWGRAPHS_DIR.glob("*.grc"))
LINK_DEFAULTS = {field.name: field.default for field in fields(LinkConfig)}
_YAML_TYPES = {"int": int, "float": float, "real": float, "bool": lambda text: {"True": True, "False": False}[text],
               "string": str, "enum": str}


def _python_block(block: dict):
    """The class a block's `make` template instantiates (lamigo_gr.NAME or lamigo_gr.MODULE.NAME)."""
    module, _, name = ("lamigo_gr." + re.search(r"lamigo_gr\.([\w.]+)\(", block["templates"]["make"]).group(1)
                       ).rpartition(".")
    return getattr(importlib.import_module(module), name)


def _python_defaults(block: dict) -> dict:
    signature = inspect.signature(_python_block(block).__init__)
    return {name: param.default for name, param in signature.parameters.items()
            if param.default is not inspect.Parameter.empty}


@pytest.mark.parametrize("path", BLOCK_FILES, ids=lambda path: path.name.split(".")[0])
def test_grc_yaml_defaults_equal_the_python_blocks(path):
    block = yaml.safe_load(path.read_text())
    python = _python_defaults(block)
    compared = 0
    for param in block["parameters"]:
        if param["id"] not in python or param["dtype"] not in _YAML_TYPES:
            continue
        yaml_default = _YAML_TYPES[param["dtype"]](str(param.get("default", "")))
        assert yaml_default == python[param["id"]], f"{block['id']}.{param['id']}"
        compared += 1
    assert compared, f"{block['id']}: no parameter compared"


def _block(block_id: str) -> dict:
    return yaml.safe_load((GRC_BLOCKS_DIR / f"{block_id}.block.yml").read_text())


@pytest.mark.parametrize("block_id, shared", [
    ("lamigo_packetizer", list(LINK_DEFAULTS)),
    ("lamigo_image_source", ["max_payload", "control_copies"]),
])
def test_link_defaults_are_the_libraries(block_id, shared):
    python = _python_defaults(_block(block_id))
    assert {name: python[name] for name in shared} == {name: LINK_DEFAULTS[name] for name in shared}


def test_receiver_defaults_are_the_libraries():
    depacketizer = _python_defaults(_block("lamigo_depacketizer"))
    assert (depacketizer["timeout"], depacketizer["max_in_flight"], depacketizer["max_tokens"]) == (
        DEFAULT_TIMEOUT, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_TOKENS)
    classical = _python_defaults(_block("lamigo_classical_receiver"))
    assert (classical["timeout"], classical["max_in_flight"], classical["max_pixels"]) == (
        DEFAULT_TIMEOUT, DEFAULT_MAX_IN_FLIGHT, MAX_PIXELS)


# The receivers' bounds (defaults: the block's, tied to the library above); a flowgraph may
# choose its own completion timeout (loopback_classical completes files after 1 s).
RECEIVER_PARAMETERS = ("max_in_flight", "max_tokens")


def _library_default(block_id: str, name: str):
    return LINK_DEFAULTS[name] if name in LINK_DEFAULTS else _python_defaults(_block(block_id))[name]


@pytest.mark.parametrize("name", FLOWGRAPHS)
def test_flowgraph_link_parameters_default_to_the_libraries(name):
    """A flowgraph's link or receiver parameter is either a command-line parameter whose
    default is the library's, or written into our blocks as the library's value; every
    flowgraph has at least one (the transmitters' packetizer, the receivers' depacketizer)."""
    parameters = flowgraph_parameters(name)
    checked = []
    for link_name in set(parameters) & set(LINK_DEFAULTS):
        assert parameters[link_name] == LINK_DEFAULTS[link_name], f"{name}: --{link_name}"
        checked.append(link_name)
    graph = yaml.safe_load((FLOWGRAPHS_DIR / f"{name}.grc").read_text())
    variables = {block["name"]: block["parameters"]["value"] for block in graph["blocks"] if block["id"] == "variable"}
    for block in graph["blocks"]:
        if not block["id"].startswith("lamigo_"):
            continue
        yaml_types = {param["id"]: param["dtype"] for param in _block(block["id"])["parameters"]}
        for link_name, value in block["parameters"].items():
            if link_name not in LINK_DEFAULTS and link_name not in RECEIVER_PARAMETERS:
                continue
            expected = _library_default(block["id"], link_name)
            if str(value) in parameters:  # a command-line parameter
                assert parameters[str(value)] == expected, f"{name}: --{value}"
                checked.append(f"{block['name']}.{link_name}")
                continue
            value = variables.get(str(value), value)  # a variable block's value
            assert _YAML_TYPES[yaml_types[link_name]](str(value)) == expected, (
                f"{name}: {block['name']}.{link_name} = {value}")
            checked.append(f"{block['name']}.{link_name}")
    assert checked, f"{name}: no link or receiver parameter checked"


def _make_keywords(block: dict) -> list[str]:
    """The keyword arguments the block's `make` template passes to the Python class."""
    call = re.search(r"lamigo_gr\.[\w.]+\((.*?)\)\s*(?:\n|$)", block["templates"]["make"], re.S).group(1)
    return re.findall(r"(\w+)=\$\{", call)


@pytest.mark.parametrize("path", BLOCK_FILES, ids=lambda path: path.name.split(".")[0])
def test_every_make_keyword_is_in_the_blocks_signature(path):
    """A keyword GRC passes that the class does not take fails only when a flowgraph runs."""
    block = yaml.safe_load(path.read_text())
    keywords = _make_keywords(block)
    assert keywords, f"{block['id']}: no keyword found in its make template"
    accepted = set(inspect.signature(_python_block(block).__init__).parameters) - {"self"}
    assert set(keywords) <= accepted, f"{block['id']}: {sorted(set(keywords) - accepted)} not taken"
    parameters = {param["id"] for param in block["parameters"]}
    assert set(keywords) <= parameters, f"{block['id']}: make uses undeclared {sorted(set(keywords) - parameters)}"
