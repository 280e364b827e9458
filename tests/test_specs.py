"""Specs: shape inference, rejection of impossible specs, parameters and FLOPs from the spec."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mnist_nets import specs as specs_module
from mnist_nets.specs import (
    Conv2D,
    Crop,
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


def make(*layers, loss="cross_entropy", input_shape=(28, 28, 1)):
    return ModelSpec("t", tuple(layers), RECIPE, loss=loss, input_shape=input_shape)


def test_registry_has_the_registered_networks():
    assert list_specs() == [
        "perceptron",
        "single_neuron",
        "single_neuron_ce",
        "dnn",
        "cnn",
        "alexnet",
        "speedrun",
        "speedrun2",
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
        (lambda: Recipe(lr=0.1, epochs=1, optimizer="rmsprop"), "unknown optimizer 'rmsprop'"),
        (lambda: Recipe(lr=0.1, epochs=1, betas=(0.9, 1.0)), r"betas must be two numbers"),
        (lambda: Recipe(lr=0.1, epochs=1, betas=(0.9,)), r"betas must be two numbers"),
        (lambda: Recipe(lr=0.1, epochs=1, eps=0.0), "eps must be a positive number"),
        (lambda: Recipe(lr=0.1, epochs=1, schedule="cosine"), "unknown schedule 'cosine'"),
        (lambda: Recipe(lr=0.1, epochs=1, warmup=1.0), r"warmup must be a fraction"),
        (lambda: Recipe(lr=0.1, epochs=1, div_factor=0.5), "div_factor must be a number >= 1"),
        (lambda: Recipe(lr=0.1, epochs=1, evals_per_epoch=0), "evals_per_epoch"),
        (lambda: Recipe(lr=0.1, epochs=1, shuffle="no"), "shuffle must be True or False"),
    ],
)
def test_bad_layer_arguments_are_rejected(build, message):
    with pytest.raises(SpecError, match=message):
        build()


def test_crop_drops_the_border_and_costs_nothing():
    spec = make(Crop(2), Conv2D(3, 5), Flatten(), Dense(10))
    assert spec.output_shapes[:2] == [(24, 24, 1), (20, 20, 3)]
    crop = spec.layer_infos[0]
    assert (crop.name, crop.params, crop.flops_forward, crop.flops_backward) == ("crop1", (), 0, 0)
    assert spec.flops_forward == make(Conv2D(3, 5), Flatten(), Dense(10),
                                      input_shape=(24, 24, 1)).flops_forward  # fmt: skip
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert "crop1 (Crop(2))" in spec.summary()


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ((Crop(14), Flatten(), Dense(10)),
         r"\(crop1: Crop\(14\)\): cropping 14 pixels off each side of a 28x28 image leaves"),
        ((Flatten(), Crop(1), Dense(10)), r"cropping a flat vector"),
    ],
)
def test_a_crop_that_cannot_work_is_rejected(layers, message):
    with pytest.raises(SpecError, match=message):
        make(*layers)


def test_label_smoothing_is_checked_and_kept():
    smooth = ModelSpec("t", (Flatten(), Dense(10)), RECIPE, label_smoothing=0.1)
    assert ModelSpec.from_dict(smooth.to_dict()) == smooth
    assert smooth.to_dict()["label_smoothing"] == 0.1
    plain = make(Flatten(), Dense(10)).to_dict()
    del plain["label_smoothing"]  # a spec stored before the field: no smoothing
    assert ModelSpec.from_dict(plain).label_smoothing == 0.0
    assert "(label smoothing 0.1)" in smooth.summary()
    with pytest.raises(SpecError, match=r"label_smoothing must be in \[0, 1\), got 1.0"):
        ModelSpec("t", (Flatten(), Dense(10)), RECIPE, label_smoothing=1.0)
    with pytest.raises(SpecError, match=r"label_smoothing must be in \[0, 1\), got True"):
        ModelSpec("t", (Flatten(), Dense(10)), RECIPE, label_smoothing=True)
    with pytest.raises(SpecError, match="label_smoothing needs the cross_entropy loss, not 'mse'"):
        ModelSpec("t", (Flatten(), Dense(10)), RECIPE, loss="mse", label_smoothing=0.1)


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


# --------------------------------------------------------------------------- sharper checks
# Written against mutants that survived `make mutation` (see tests/MUTATION.md).


def test_every_layer_kinds_flops_by_hand():
    """Forward, backward and dropout FLOPs of each layer kind, layer by layer."""
    spec = make(
        Conv2D(2, 3),  # 26x26x2
        ReLU(),
        MaxPool2D(3, stride=2),  # 12x12x2
        Dropout(0.5),
        Conv2D(3, 3, padding=1),  # 12x12x3, after a layer with parameters: input gradient
        Flatten(),
        Dropout(0.0),  # no mask multiply at rate 0
        Dense(10),
    )
    conv1 = 26 * 26 * 2 * (2 * 9 * 1 + 1)
    conv1_macs = 26 * 26 * 2 * 9
    conv2_macs = 12 * 12 * 3 * 9 * 2
    conv2 = 2 * conv2_macs + 12 * 12 * 3
    dense_macs = 432 * 10
    expected = [
        # (forward, backward, dropout)
        (conv1, 2 * conv1_macs + 26 * 26 * 2, 0),
        (26 * 26 * 2, 26 * 26 * 2, 0),
        (12 * 12 * 2 * (3 * 3 - 1), 26 * 26 * 2, 0),
        (0, 12 * 12 * 2, 12 * 12 * 2),
        (conv2, 2 * conv2_macs + 12 * 12 * 3 + 2 * conv2_macs, 0),
        (0, 0, 0),
        (0, 432, 0),
        (2 * dense_macs + 10, 2 * dense_macs + 10 + 2 * dense_macs, 0),
    ]
    got = [(i.flops_forward, i.flops_backward, i.flops_dropout) for i in spec.layer_infos]
    assert got == expected
    assert spec.flops_forward == sum(f for f, _, _ in expected)
    assert spec.flops_training == sum(f + b + d for f, b, d in expected)


def test_registered_networks_flops():
    """The README's MFLOPs come from these exact figures (pooling and dropout included)."""
    cnn = get_spec("cnn")
    pool = [i for i in cnn.layer_infos if isinstance(i.layer, MaxPool2D)]
    assert [i.flops_forward for i in pool] == [12 * 12 * 20 * 3, 4 * 4 * 50 * 3]
    assert [i.flops_backward for i in pool] == [24 * 24 * 20, 8 * 8 * 50]
    alexnet = get_spec("alexnet")
    drops = [i for i in alexnet.layer_infos if isinstance(i.layer, Dropout)]
    assert drops and all(i.flops_dropout == i.flops_backward > 0 for i in drops)
    assert all(i.flops_forward == 0 for i in drops)
    assert alexnet.flops_training == sum(
        i.flops_forward + i.flops_backward + i.flops_dropout for i in alexnet.layer_infos
    )


def test_layer_infos_names_shapes_and_fans():
    spec = make(Conv2D(4, 5, stride=2, name="c"), ReLU(), Flatten(), Dense(10, name="out"))
    infos = spec.layer_infos
    assert [i.index for i in infos] == [0, 1, 2, 3]
    assert [i.name for i in infos] == ["c", "relu1", "flatten1", "out"]
    assert infos[0].input_shape == (28, 28, 1) and infos[0].output_shape == (12, 12, 4)
    assert infos[3].input_shape == (576,)
    w, b = infos[0].params
    assert (w.name, w.layer, w.shape, w.fan_in, w.fan_out) == ("c.weight", "c", (5, 5, 1, 4),
                                                               25, 100)
    assert (b.name, b.shape, b.size) == ("c.bias", (4,), 4)
    dw = infos[3].params[0]
    assert (dw.fan_in, dw.fan_out, dw.size) == (576, 10, 5760)
    assert spec.parameters[0] is w


def test_counters_are_per_kind():
    spec = make(Flatten(), Dense(20), ReLU(), Dense(20), ReLU(), Dense(10))
    assert [i.name for i in spec.layer_infos] == [
        "flatten1", "dense1", "relu1", "dense2", "relu2", "dense3"
    ]


def test_pool_default_stride_and_explicit_stride():
    assert MaxPool2D(3).stride == 3
    spec = make(MaxPool2D(2, stride=1), Flatten(), Dense(10), input_shape=(5, 7, 2))
    assert spec.output_shapes[0] == (4, 6, 2)
    spec = make(MaxPool2D(5), Flatten(), Dense(10), input_shape=(5, 7, 2))
    assert spec.output_shapes[0] == (1, 1, 2)


def test_conv_on_non_square_input():
    spec = make(Conv2D(3, 3, stride=2, padding=1), Flatten(), Dense(10), input_shape=(9, 5, 2))
    assert spec.output_shapes[0] == (5, 3, 3)
    assert spec.param_shapes["conv1.weight"] == (3, 3, 2, 3)
    spec = make(Conv2D(1, 5), Flatten(), Dense(10), input_shape=(5, 9, 1))
    assert spec.output_shapes[0] == (1, 5, 1)


def test_padding_rules():
    assert Conv2D(2, 3, padding="valid").padding == 0
    assert Conv2D(2, 1, padding="same").padding == 0
    assert Conv2D(2, 3, padding=2).padding == 2
    with pytest.raises(SpecError, match=r"^Conv2D: padding 3 must be smaller than the kernel 3$"):
        Conv2D(2, 3, padding=3)
    with pytest.raises(SpecError, match=r"^Conv2D: padding='same' needs an odd kernel and stride 1 "
                       r"\(got kernel 3, stride 2\)"):
        Conv2D(2, 3, stride=2, padding="same")
    with pytest.raises(SpecError, match=r"^Conv2D: padding must be an integer, 'same' or 'valid', "
                       r"got 'full'$"):
        Conv2D(2, 3, padding="full")
    with pytest.raises(SpecError, match=r"non-negative integer, got True"):
        Conv2D(2, 3, padding=True)
    with pytest.raises(SpecError, match=r"non-negative integer, got 1.0"):
        Conv2D(2, 3, padding=1.0)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Dense(True), r"^Dense: units must be a positive integer, got True$"),
        (lambda: Dense(2.0), r"^Dense: units must be a positive integer, got 2.0$"),
        (lambda: Conv2D(0, 3), r"^Conv2D: filters must be a positive integer, got 0$"),
        (lambda: MaxPool2D(2, stride=0), r"^MaxPool2D: stride must be a positive integer, got 0$"),
        (lambda: Dropout(-0.1), r"^Dropout: rate must be in \[0, 1\), got -0.1$"),
        (lambda: Dropout(True), r"rate must be in \[0, 1\), got True"),
        (lambda: Dropout("0.5"), r"rate must be in \[0, 1\), got '0.5'"),
        (lambda: Crop(0), r"^Crop: border must be a positive integer, got 0$"),
        (lambda: Crop(1.0), r"^Crop: border must be a positive integer, got 1.0$"),
        (lambda: Recipe(lr=0.1, epochs=1, optimizer="rmsprop"),
         r"unknown optimizer 'rmsprop'; known: \('sgd', 'adam'\)$"),
        (lambda: Recipe(lr=float("inf"), epochs=1), r"^Recipe: lr must be a positive number"),
        (lambda: Recipe(lr="1", epochs=1), r"^Recipe: lr must be a positive number, got '1'$"),
        (lambda: Recipe(lr=0.1, epochs=1, batch_size=0), r"^Recipe: batch_size must be"),
        (lambda: Recipe(lr=0.1, epochs=1, momentum=-0.1), r"^Recipe: momentum must be in \[0, 1\)"),
        (lambda: Recipe(lr=0.1, epochs=1, lr_decay=0.0), r"^Recipe: lr_decay must be in \(0, 1\]"),
        (lambda: Recipe(lr=0.1, epochs=1, lr_decay=1.5), r"lr_decay must be in \(0, 1\], got 1.5"),
    ],
)
def test_argument_errors_exactly(build, message):
    with pytest.raises(SpecError, match=message):
        build()


def test_boundary_values_are_accepted():
    assert Dropout(0).rate == 0 and Dropout(0.99).rate == 0.99
    r = Recipe(lr=1, epochs=1, batch_size=1, momentum=0.0, lr_decay=1.0)
    assert (r.lr, r.batch_size, r.momentum, r.lr_decay, r.optimizer) == (1, 1, 0.0, 1.0, "sgd")
    assert Recipe(lr=0.1, epochs=1).batch_size == 128
    assert Recipe(lr=0.1, epochs=3, lr_decay=0.5).lr_at(2) == pytest.approx(0.025)
    assert Recipe(lr=0.1, epochs=3).lr_at(5) == 0.1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, r"^spec name must be a non-empty string, got ''$"),
        ({"name": 3}, r"^spec name must be a non-empty string, got 3$"),
        ({"input_shape": (28, 28)}, r"^spec 't': input_shape must be \(H, W, C\) positive"),
        ({"input_shape": (28, 0, 1)}, r"input_shape must be"),
        ({"input_shape": (28, 28.0, 1)}, r"input_shape must be"),
        ({"layers": ()}, r"^spec 't': it has no layers$"),
        ({"layers": (Flatten(), "Dense(10)")},
         r"^spec 't': layer 1 is not a layer: 'Dense\(10\)'$"),
        ({"layers": (Flatten(), ReLU(), Dropout(0.5))}, r"must output \(10,\)"),
    ],
)
def test_model_spec_errors(kwargs, message):
    args = {"name": "t", "layers": (Flatten(), Dense(10)), "recipe": RECIPE} | kwargs
    with pytest.raises(SpecError, match=message):
        ModelSpec(**args)


def test_layer_errors_name_the_layer_exactly():
    with pytest.raises(SpecError, match=(
        r"^spec 't', layer 1 \(pool1: MaxPool2D\(3x3, stride 3\)\): pool window 3x3 is larger "
        r"than its input 2x2$"
    )):
        make(Conv2D(1, 3), MaxPool2D(3), Flatten(), Dense(10), input_shape=(4, 4, 1))
    with pytest.raises(SpecError, match=(
        r"^spec 't', layer 0 \(conv1: Conv2D\(2, 7x7, stride 1, pad 1\)\): kernel 7x7 is larger "
        r"than its input 4x6 \(padded to 6x8\)$"
    )):
        make(Conv2D(2, 7, padding=1), Flatten(), Dense(10), input_shape=(4, 6, 1))
    with pytest.raises(SpecError, match=r"pooling on a flat vector of shape \(784,\)"):
        make(Flatten(), MaxPool2D(2), Dense(10))
    with pytest.raises(SpecError, match=r"^spec 't': the last layer outputs \(7,\), but a "
                       r"classifier of 10 digits must output \(10,\)$"):
        make(Flatten(), Dense(7))


def test_no_parameters_at_all_is_refused():
    with pytest.raises(SpecError, match=r"no layer has parameters \(add a Dense layer\)"):
        make(Flatten(), input_shape=(10, 1, 1))


def test_summary_text():
    spec = ModelSpec(
        "s", (Conv2D(2, 3, padding=1), MaxPool2D(2), Dropout(0.25), Flatten(), Dense(10)),
        Recipe(lr=0.05, epochs=2, batch_size=32, momentum=0.9, lr_decay=0.5),
        input_shape=(4, 4, 1),
    )
    lines = spec.summary().splitlines()
    assert lines[0].split() == ["layer", "output", "params", "MFLOPs", "fwd"]
    assert lines[1].split() == ["input", "4x4x1"]
    assert lines[2].split() == ["conv1", "(Conv2D(2,", "3x3,", "stride", "1,", "pad", "1))",
                                "4x4x2", "20", "0.001"]
    assert lines[3].split() == ["pool1", "(MaxPool2D(2x2,", "stride", "2))", "2x2x2", "0.000"]
    assert lines[4].split() == ["dropout1", "(Dropout(0.25))", "2x2x2"]
    assert lines[5].split() == ["flatten1", "(Flatten)", "8"]
    assert lines[6].split() == ["dense1", "(Dense(10))", "10", "90", "0.000"]
    assert lines[0].index("output") == lines[2].index("4x4x2")  # left-aligned column
    assert lines[2].endswith("0.001") and lines[3].endswith("0.000")  # right-aligned
    assert lines[7] == (
        f"110 parameters; {spec.flops_forward / 1e6:.2f} MFLOPs forward, "
        f"{spec.flops_training / 1e6:.2f} MFLOPs training per sample; loss cross_entropy; "
        "recipe: sgd lr 0.05 momentum 0.9 lr_decay 0.5 batch 32 epochs 2"
    )
    assert make(Flatten(), Dense(10)).summary().endswith("batch 128 epochs 1")  # no lr_decay 1


def test_to_dict_is_complete():
    spec = get_spec("cnn")
    d = spec.to_dict()
    assert d["name"] == "cnn" and d["input_shape"] == [28, 28, 1] and d["loss"] == spec.loss
    assert d["layers"][0] == {"type": "Conv2D", "filters": 20, "kernel": 5, "stride": 1,
                              "padding": 0, "name": None}
    assert d["target_accuracy"] == spec.target_accuracy
    assert d["description"] == spec.description
    assert d["recipe"]["lr"] == spec.recipe.lr
    seed = spec.seed_recipe
    assert {k: d["seed_recipe"][k] for k in ("lr", "epochs", "batch_size", "momentum",
                                             "lr_decay", "optimizer", "schedule")} == {
        "lr": seed.lr, "epochs": seed.epochs, "batch_size": seed.batch_size,
        "momentum": seed.momentum, "lr_decay": seed.lr_decay, "optimizer": "sgd",
        "schedule": "decay"}
    assert ModelSpec.from_dict(d).seed_recipe == seed
    assert make(Flatten(), Dense(10)).to_dict()["seed_recipe"] is None


def test_from_dict_errors_and_defaults():
    d = get_spec("perceptron").to_dict()
    bad = dict(d, layers=[{"type": "LSTM", "units": 3}])
    with pytest.raises(SpecError, match=r"unknown layer type 'LSTM'; known: \['Conv2D', 'Crop', "):
        ModelSpec.from_dict(bad)
    with pytest.raises(SpecError, match=r"^malformed spec description: KeyError\('recipe'\)$"):
        ModelSpec.from_dict({k: v for k, v in d.items() if k != "recipe"})
    with pytest.raises(SpecError, match=r"^malformed spec description: TypeError"):
        ModelSpec.from_dict(dict(d, layers=[{"type": "Dense", "unit": 3}]))
    minimal = {k: v for k, v in d.items()
               if k not in ("target_accuracy", "description", "seed_recipe")}
    spec = ModelSpec.from_dict(minimal)
    assert (spec.target_accuracy, spec.description, spec.seed_recipe) == (None, "", None)
    with_seed = dict(d, seed_recipe={"lr": 0.5, "epochs": 2})
    assert ModelSpec.from_dict(with_seed).seed_recipe == Recipe(lr=0.5, epochs=2)
    assert ModelSpec.from_dict(d).to_dict() == d


def test_with_recipe_and_without_dropout():
    spec = get_spec("alexnet")
    changed = spec.with_recipe(lr=0.5, epochs=7)
    assert changed.recipe.lr == 0.5 and changed.recipe.epochs == 7
    assert changed.recipe.batch_size == spec.recipe.batch_size and changed.layers == spec.layers
    with pytest.raises(SpecError):
        spec.with_recipe(lr=-1)
    plain = spec.without_dropout()
    assert [type(a) for a in plain.layers] == [type(b) for b in spec.layers]
    assert all(layer.rate == 0.0 for layer in plain.layers if isinstance(layer, Dropout))
    assert plain.name == spec.name and plain.recipe == spec.recipe
    assert not make(Flatten(), Dropout(0.0), Dense(10)).has_dropout
    assert make(Flatten(), Dropout(0.1), Dense(10)).has_dropout


def test_get_spec_refuses_a_misnamed_module(monkeypatch):
    monkeypatch.setitem(specs_module._REGISTRY, "other", "mnist_nets.architectures.dnn")
    with pytest.raises(SpecError, match=r"^mnist_nets.architectures.dnn.SPEC is named 'dnn', "
                       r"registered as 'other'$"):
        get_spec("other")
    with pytest.raises(SpecError, match=r"^unknown model 'x'; choose one of: perceptron, "
                       r"single_neuron, "):
        get_spec("x")


def _relu_dense(n):
    return make(ReLU(), Flatten(), Dense(10), input_shape=(n, 1, 1))


def test_summary_megaflops_are_flops_over_a_million():
    """FLOP counts chosen on a rounding boundary, where dividing by 1,000,001 shows."""
    spec = _relu_dense(1190)
    assert spec.flops_forward == 25_000
    assert f"; {25_000 / 1e6:.2f} MFLOPs forward," in spec.summary()
    spec = _relu_dense(18690)
    assert spec.flops_training == 42 * 18690 + 20
    assert f", {(42 * 18690 + 20) / 1e6:.2f} MFLOPs training" in spec.summary()
    relu_line = _relu_dense(1500).summary().splitlines()[2]
    assert relu_line.endswith(f"{1500 / 1e6:.3f}")


def test_summary_columns_are_aligned_exactly():
    spec = make(Conv2D(2, 3), Flatten(), Dense(10), input_shape=(5, 5, 1))
    assert spec.summary().splitlines()[:5] == [
        "layer                                    output  params  MFLOPs fwd",
        "input                                    5x5x1                     ",
        "conv1 (Conv2D(2, 3x3, stride 1, pad 0))  3x3x2       20       0.000",
        "flatten1 (Flatten)                       18                        ",
        "dense1 (Dense(10))                       10         190       0.000",
    ]


def test_from_dict_keeps_the_input_shape():
    spec = make(Conv2D(2, 3), Flatten(), Dense(10), input_shape=(5, 6, 2))
    again = ModelSpec.from_dict(spec.to_dict())
    assert again.input_shape == (5, 6, 2) and again == spec


def test_recipe_describe_names_only_what_differs_from_the_plain_recipe():
    plain = Recipe(lr=0.1, epochs=3, batch_size=32)
    assert plain.describe() == "sgd lr 0.1 momentum 0 batch 32 epochs 3"  # no decay of 1
    assert Recipe(lr=0.1, epochs=3, lr_decay=0.5).describe().count("lr_decay 0.5") == 1
    two = Recipe(lr=0.01, epochs=1, batch_size=256, evals_per_epoch=2, shuffle=False)
    assert two.describe() == "sgd lr 0.01 momentum 0 batch 256 epochs 1 unshuffled 2 evals/epoch"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epochs": 0}, "Recipe: epochs must be a positive integer, got 0"),
        ({"batch_size": 0}, "Recipe: batch_size must be a positive integer, got 0"),
        ({"evals_per_epoch": 0}, "Recipe: evals_per_epoch must be a positive integer, got 0"),
        ({"warmup": 1.0}, "Recipe: warmup must be a fraction in [0, 1), got 1.0"),
        ({"div_factor": 0.99}, "Recipe: div_factor must be a number >= 1, got 0.99"),
        ({"final_div_factor": 0.5}, "Recipe: final_div_factor must be a number >= 1, got 0.5"),
    ],
)
def test_a_bad_recipe_field_is_named_exactly(changes, message):
    with pytest.raises(SpecError) as info:
        Recipe(**{"lr": 0.1, "epochs": 1, "batch_size": 8, **changes})
    assert str(info.value) == message


def test_recipe_fields_at_their_lowest_valid_values():
    """No warm-up, and a one-cycle schedule that neither divides its start nor its end."""
    recipe = Recipe(lr=0.1, epochs=1, batch_size=8, schedule="one_cycle", warmup=0.0,
                    div_factor=1, final_div_factor=1.0)  # fmt: skip
    assert (recipe.warmup, recipe.div_factor, recipe.final_div_factor) == (0.0, 1, 1.0)


def test_update_rule_betas_at_their_bounds_and_of_the_wrong_kind():
    from mnist_nets.specs import UpdateRule

    assert UpdateRule("adam", 0.0, [0.0, 0.5], 1e-8).betas == (0.0, 0.5)  # a list, and 0
    for betas in (0.9, (0.9, 1.0), (0.9,)):
        with pytest.raises(SpecError) as info:
            UpdateRule("adam", 0.0, betas, 1e-8)
        assert str(info.value) == f"Recipe: betas must be two numbers in [0, 1), got {betas!r}"
