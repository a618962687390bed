// The trunk outputs 4 features, but the heads read 5.
use gradwell::{Dense, Init, MultiTask, Relu};

fn main() {
    let _model: MultiTask<Dense<3, 4, Relu>, (Dense<5, 1>, Dense<5, 2>)> =
        gradwell::build(Init::PyTorch, 0);
}
