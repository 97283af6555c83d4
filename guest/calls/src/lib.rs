//! Guest `calls`: a component that is no command, only exported functions with typed
//! parameters and results of every type family (see `wit/calls.wit`), for the tests of calls
//! (`tests/all/calls.rs`). Built for `wasm32-wasip2` as a cdylib, which its linker makes a
//! component.

wit_bindgen::generate!({
    path: "wit",
    world: "calls",
    generate_all,
});

use exports::wasmpool_test::calls::shapes::{self, Shape};

struct Calls;

impl Guest for Calls {
    fn square(n: i32) -> i32 {
        n.wrapping_mul(n)
    }

    fn add(a: u64, b: u64) -> u64 {
        a.wrapping_add(b)
    }

    fn halve(x: f32) -> f64 {
        f64::from(x) / 2.0
    }

    fn greet(name: String) -> String {
        format!("hello, {name}!")
    }

    fn is_even(n: u8) -> bool {
        n % 2 == 0
    }

    fn upper(c: char) -> char {
        c.to_uppercase().next().unwrap_or(c)
    }

    fn sum(items: Vec<i16>) -> i64 {
        items.into_iter().map(i64::from).sum()
    }

    fn move_point(p: Point, dx: i32) -> Point {
        Point { x: p.x + dx, y: p.y, label: p.label.map(|label| format!("{label}+")) }
    }

    fn swap(pair: (String, u32)) -> (u32, String) {
        (pair.1, pair.0)
    }

    fn first_word(text: String) -> Option<String> {
        text.split_whitespace().next().map(str::to_string)
    }

    fn divide(a: i32, b: i32) -> Result<i32, String> {
        if b == 0 {
            return Err(format!("cannot divide {a} by zero"));
        }
        Ok(a / b)
    }

    fn next_color(c: Color) -> Color {
        match c {
            Color::Red => Color::Green,
            Color::Green => Color::Blue,
            Color::Blue => Color::Red,
        }
    }

    fn grant(p: Perms) -> Perms {
        p | Perms::READ
    }

    fn crash(code: u32) -> u32 {
        if code != 0 {
            std::process::abort();
        }
        code
    }

    fn chatty(text: String) -> u32 {
        println!("out: {text}");
        eprintln!("err: {text}");
        text.len() as u32
    }

    fn flaky(succeed_on: u32) -> Result<u32, String> {
        let attempt = wasmpool::task::job::attempt();
        if attempt < succeed_on {
            return Err(format!("not yet: attempt {attempt}"));
        }
        Ok(attempt)
    }
}

impl shapes::Guest for Calls {
    fn area(s: Shape) -> f64 {
        match s {
            Shape::Circle(r) => std::f64::consts::PI * r * r,
            Shape::Rectangle((w, h)) => w * h,
            Shape::Dot => 0.0,
        }
    }
}

export!(Calls);
