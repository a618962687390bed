// The identity shortcut keeps 4 features, so the residual branch must output 4, not 3.
use gradwell::{Dense, Init, Residual, Skip};

fn main() {
    let _block: Residual<Dense<4, 3>, Skip<4>> = gradwell::build(Init::PyTorch, 0);
}
