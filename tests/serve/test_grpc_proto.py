"""The checked-in gRPC code: exactly what the pinned generator makes, and on the wire the
same as Triton's messages (every field's number and type, as tritonclient ships them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from google.protobuf.descriptor import Descriptor, EnumDescriptor

from baton.serve.proto import grpc_v2_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]


def test_regenerating_gives_the_checked_in_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_grpc.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    folder = "baton/serve/proto"
    for name in ("grpc_v2_pb2.py", "grpc_v2_pb2.pyi"):
        made = (tmp_path / folder / name).read_text()
        assert made == (ROOT / "src" / folder / name).read_text(), f"{name}: run gen_grpc.py"


def _same_enum(ours: EnumDescriptor, theirs: EnumDescriptor) -> None:
    have = {v.name: v.number for v in theirs.values}
    for value in ours.values:
        assert have.get(value.name) == value.number, f"{ours.full_name}.{value.name}"


def _same_message(ours: Descriptor, theirs: Descriptor) -> None:
    """Each of our fields exists in Triton's message under the same number and type."""
    fields = {f.number: f for f in theirs.fields}
    for field in ours.fields:
        where = f"{ours.full_name}.{field.name}"
        other = fields.get(field.number)
        assert other is not None, f"{where}: no field {field.number} in {theirs.full_name}"
        assert (other.name, other.type, other.is_repeated) == (
            field.name,
            field.type,
            field.is_repeated,
        ), where
        if field.message_type is not None:
            _same_message(field.message_type, other.message_type)
        if field.enum_type is not None:
            _same_enum(field.enum_type, other.enum_type)


def test_every_message_matches_tritons_on_the_wire() -> None:
    from tritonclient.grpc import model_config_pb2, service_pb2

    theirs = {**service_pb2.DESCRIPTOR.message_types_by_name}
    theirs.update(model_config_pb2.DESCRIPTOR.message_types_by_name)
    for name, descriptor in pb.DESCRIPTOR.message_types_by_name.items():
        _same_message(descriptor, theirs[name])
    _same_enum(pb.DataType.DESCRIPTOR, model_config_pb2.DataType.DESCRIPTOR)


def test_tritons_service_declares_every_call_we_answer() -> None:
    from tritonclient.grpc import service_pb2

    from baton.serve.grpc_service import SERVICE

    service = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == SERVICE
    methods = {m.name: m for m in service.methods}
    for name in ("ModelInfer", "ModelConfig", "ModelStatistics", "RepositoryModelLoad"):
        method = methods[name]
        assert method.input_type.name in pb.DESCRIPTOR.message_types_by_name
        assert method.output_type.name in pb.DESCRIPTOR.message_types_by_name
