// A chain whose first layer outputs 4 features cannot feed a layer that reads 5.
use gradwell::{seq, Dense, Init};

fn main() {
    let _model: seq![Dense<3, 4>, Dense<5, 2>] = gradwell::build(Init::PyTorch, 0);
}
