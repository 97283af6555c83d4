//! `bad-import`: a component that imports an interface no wasmpool host provides
//! (`example:missing/nothing`), for the test that such a module is refused at upload with the
//! interface named.

wit_bindgen::generate!({
    inline: "
        package example:missing;
        interface nothing { ping: func(); }
        world bad-import { import nothing; }
    ",
    world: "bad-import",
});

fn main() {
    example::missing::nothing::ping();
}
