"""Specs: shape inference, rejection of impossible specs, parameters and FLOPs from the spec."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mnist_nets.specs import (
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ModelSpec,
    Recipe,
    ReLU,
    SpecError,
    get_spec,
    list_specs,
)

RECIPE = Recipe(lr=0.1, epochs=1)


def make(*layers, loss="cross_entropy"):
    return ModelSpec("t", tuple(layers), RECIPE, loss=loss)


def test_registry_has_the_five_networks():
    assert list_specs() == [
        "perceptron",
        "single_neuron",
        "single_neuron_ce",
        "dnn",
        "cnn",
        "alexnet",
    ]
    for name in list_specs():
        spec = get_spec(name)
        assert spec.name == name
        assert spec.output_shapes[-1] == (10,)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(SpecError, match="unknown model 'lenet'.*perceptron.*alexnet"):
        get_spec("lenet")


def test_cnn_shapes_and_parameters():
    spec = get_spec("cnn")
    assert spec.output_shapes[:6] == [
        (24, 24, 20),
        (24, 24, 20),
        (12, 12, 20),
        (8, 8, 50),
        (8, 8, 50),
        (4, 4, 50),
    ]
    assert spec.param_shapes == {
        "conv1.weight": (5, 5, 1, 20),
        "conv1.bias": (20,),
        "conv2.weight": (5, 5, 20, 50),
        "conv2.bias": (50,),
        "dense1.weight": (800, 500),
        "dense1.bias": (500,),
        "dense2.weight": (500, 10),
        "dense2.bias": (10,),
    }
    assert spec.param_count == 520 + 25_050 + 400_500 + 5_010


def test_perceptron_is_784_to_10_and_single_neuron_is_literal():
    assert get_spec("perceptron").param_shapes == {"dense1.weight": (784, 10), "dense1.bias": (10,)}
    single = get_spec("single_neuron")
    assert single.param_shapes["dense1.weight"] == (784, 1)
    assert single.loss == "mse"
    # the same bottleneck, differing only in its loss
    variant = get_spec("single_neuron_ce")
    assert variant.layers == single.layers and variant.loss == "cross_entropy"


def test_alexnet_has_alexnets_shape():
    spec = get_spec("alexnet")
    kinds = [type(layer).__name__ for layer in spec.layers]
    assert kinds.count("Conv2D") == 5 and kinds.count("Dense") == 3
    assert kinds.count("MaxPool2D") == 3 and kinds.count("Dropout") == 2


def test_dense_flops_by_hand():
    spec = make(Flatten(), Dense(16), ReLU(), Dense(10))
    fwd = (2 * 784 * 16 + 16) + 16 + (2 * 16 * 10 + 10)
    assert spec.flops_forward == fwd
    # backward: dense1 weight+bias grads (no input grad: nothing before it learns),
    # relu, dense2 weight+bias+input grads
    bwd = (2 * 784 * 16 + 16) + 16 + (2 * 16 * 10 + 10 + 2 * 16 * 10)
    assert spec.flops_training == fwd + bwd


def test_conv_flops_by_hand():
    spec = make(Conv2D(4, 3, stride=2, padding=1), Flatten(), Dense(10))
    oh = (28 + 2 - 3) // 2 + 1
    conv = oh * oh * 4 * (2 * 9 * 1 + 1)
    assert spec.output_shapes[0] == (oh, oh, 4)
    assert spec.flops_forward == conv + 2 * oh * oh * 4 * 10 + 10


@pytest.mark.parametrize(
    ("layers", "loss", "message"),
    [
        ((Dense(10),), "cross_entropy", r"layer 0 \(dense1.*add Flatten\(\)"),
        ((Conv2D(4, 29), Flatten(), Dense(10)), "cross_entropy", r"conv1.*larger than its input"),
        ((Flatten(), Conv2D(4, 3), Dense(10)), "cross_entropy", r"conv1.*flat vector"),
        (
            (Conv2D(4, 5, stride=5), MaxPool2D(8), Flatten(), Dense(10)),
            "cross_entropy",
            r"pool1.*larger than its input 5x5",
        ),
        ((Flatten(), Dense(10)), "hinge", r"unknown loss 'hinge'"),
        ((Flatten(), Dense(7)), "mse", r"must output \(10,\)"),
        ((Flatten(), ReLU()), "mse", r"must output \(10,\)"),
        ((Flatten(), Dense(10), Dense(10, name="dense1")), "mse", r"name 'dense1' is used twice"),
    ],
)
def test_impossible_specs_are_rejected_naming_the_layer(layers, loss, message):
    with pytest.raises(SpecError, match=message):
        make(*layers, loss=loss)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Dense(0), "Dense: units must be a positive integer, got 0"),
        (lambda: Dense(-3), "Dense: units"),
        (lambda: Conv2D(8, 0), "Conv2D: kernel"),
        (lambda: Conv2D(8, 3, stride=0), "Conv2D: stride"),
        (lambda: Conv2D(8, 4, padding="same"), "odd kernel"),
        (lambda: Conv2D(8, 3, padding=-1), "non-negative"),
        (lambda: MaxPool2D(0), "MaxPool2D: size"),
        (lambda: Dropout(1.0), r"Dropout: rate must be in \[0, 1\)"),
        (lambda: Recipe(lr=0, epochs=1), "lr must be a positive number"),
        (lambda: Recipe(lr=0.1, epochs=0), "epochs"),
        (lambda: Recipe(lr=0.1, epochs=1, momentum=1.0), "momentum"),
    ],
)
def test_bad_layer_arguments_are_rejected(build, message):
    with pytest.raises(SpecError, match=message):
        build()


def test_same_padding_keeps_the_size():
    spec = make(Conv2D(3, 5, padding="same"), Flatten(), Dense(10))
    assert spec.layers[0].padding == 2
    assert spec.output_shapes[0] == (28, 28, 3)


@pytest.mark.parametrize("name", list_specs())
def test_round_trip_through_dict(name):
    spec = get_spec(name)
    again = ModelSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.param_shapes == spec.param_shapes


def test_without_dropout_keeps_parameters():
    spec = get_spec("alexnet")
    plain = spec.without_dropout()
    assert not plain.has_dropout and spec.has_dropout
    assert plain.param_shapes == spec.param_shapes


@given(
    size=st.integers(1, 12),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    padding=st.integers(0, 3),
)
def test_conv_shape_rule(size, kernel, stride, padding):
    """A conv either builds with the documented output size or is rejected with a SpecError."""
    try:
        layers = (Conv2D(2, kernel, stride=stride, padding=padding), Flatten(), Dense(10))
        spec = ModelSpec("t", layers, RECIPE, input_shape=(size, size, 1))
    except SpecError as exc:
        assert padding >= kernel or kernel > size + 2 * padding, exc
        return
    out = (size + 2 * padding - kernel) // stride + 1
    assert spec.output_shapes[0] == (out, out, 2)
    assert spec.param_count == kernel * kernel * 2 + 2 + out * out * 2 * 10 + 10
    assert spec.flops_forward >= 2 * (spec.param_count - 12) and math.isfinite(spec.flops_training)
