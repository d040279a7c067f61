#!/bin/sh
# bench/stack.sh N: prints the spec of a stack of N identical layers,
# Conv2d(16, 16, 3, padding=1) + ReLU, on a 1 x 16 x 16 x 16 input, with
# the mean of the last activation as the loss and its backward: the model
# of the compile-time row of `make bench` (bench/compile.sh), whose source
# size and compile time should grow with the distinct layers, not the layers.
n=${1:?usage: bench/stack.sh LAYERS}
echo "name: stack$n"
echo "inputs:"
echo "  x: {shape: [1, 16, 16, 16], init: {uniform: [0, 1]}}"
echo "model:"
echo "  input: x"
echo "  layers:"
i=0
while [ $i -lt "$n" ]; do
    echo "    - conv2d: {in_channels: 16, out_channels: 16, kernel_size: 3, padding: 1}"
    echo "    - relu"
    i=$((i + 1))
done
echo "graph:"
echo "  loss: mean(relu$((2 * n - 1)))"
echo "outputs: [loss]"
echo "backward: loss"
