fn main() {
    println!("gradwell: the desktop tool is not built yet");
}
