//! Desktop side of gradwell: real data, training runs and weight interchange, on the same `core`
//! code that runs on the device.
