// Every head reads the trunk's output, so heads of different input widths cannot share a trunk.
use gradwell::{Dense, Init, MultiTask, Relu};

fn main() {
    let _model: MultiTask<Dense<3, 4, Relu>, (Dense<4, 1>, Dense<5, 2>)> =
        gradwell::build(Init::PyTorch, 0);
}
