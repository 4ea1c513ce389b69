"""Offline on the shop floor: training and prediction open no network socket and download
nothing. Local sockets (socketpairs, Unix sockets) are allowed: they are not the network."""

import socket
import urllib.request

import pytest
import torch
import torchvision.models._api

from isegui.core.images import load_image
from isegui.core.project import Project
from isegui.ml.model.torch_predictor import Predictor
from isegui.ml.train.spec import TrainSpec
from isegui.ml.train.trainer import fit

NETWORK_FAMILIES = {socket.AF_INET, socket.AF_INET6}


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def network_attempts(monkeypatch):
    """Every attempt to reach the network is recorded and refused."""
    attempts = []
    real_init = socket.socket.__init__

    def guarded_init(self, family=-1, type=-1, proto=-1, fileno=None):
        # family -1 means AF_INET unless an existing descriptor (a socketpair's) is wrapped
        wanted = socket.AF_INET if family == -1 and fileno is None else family
        if fileno is None and wanted in NETWORK_FAMILIES:
            attempts.append(f"socket({socket.AddressFamily(wanted).name})")
            raise NetworkUsed(attempts[-1])
        real_init(self, family, type, proto, fileno)

    def refuse(name):
        def refused(*args, **kwargs):
            attempts.append(f"{name}({args[0] if args else ''})")
            raise NetworkUsed(attempts[-1])
        return refused

    monkeypatch.setattr(socket.socket, "__init__", guarded_init)
    for module, name in ((socket, "create_connection"), (socket, "getaddrinfo"),
                         (urllib.request, "urlopen"), (torch.hub, "load_state_dict_from_url"),
                         (torch.hub, "download_url_to_file"),
                         (torchvision.models._api, "load_state_dict_from_url")):
        monkeypatch.setattr(module, name, refuse(f"{module.__name__}.{name}"))
    return attempts


def test_the_guard_refuses_network_sockets_and_allows_local_ones(network_attempts):
    with pytest.raises(NetworkUsed):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(NetworkUsed):
        socket.socket()
    with pytest.raises(NetworkUsed):
        torch.hub.load_state_dict_from_url("https://example.invalid/weights.pth")
    a, b = socket.socketpair()  # what DataLoader workers and the like use
    a.close()
    b.close()
    assert network_attempts == ["socket(AF_INET)", "socket(AF_INET)",
                                "torch.hub.load_state_dict_from_url(https://example.invalid/"
                                "weights.pth)"]


@pytest.mark.slow
def test_training_and_prediction_open_no_network_socket(tiny_project, network_attempts):
    result = fit(TrainSpec(project=tiny_project, model="fast", size=128, batch=2, epochs=1,
                           max_steps=2, device="cpu", workers=1))
    with Project.open(tiny_project, read_only=True) as project:
        image = load_image(project.image_path(project.store.images()[0].path))
    predictor = Predictor.from_checkpoint(result.checkpoint, "cpu", threshold=0.0)
    (found,) = predictor.predict([image])
    assert result.steps == 2 and isinstance(found, list)
    assert network_attempts == []
