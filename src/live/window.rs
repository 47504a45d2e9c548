//! The live window (minifb: X11 or Wayland), showing each stylized frame and reporting the
//! keys the user pressed.

use std::sync::{Arc, Mutex};

use minifb::{InputCallback, Key, Window, WindowOptions};

use super::Command;
use crate::picture::Planar;

/// Collects key presses as they arrive. Polling the keys held down at each frame would
/// miss a tap that starts and ends within one network run.
struct Keys(Arc<Mutex<Vec<Command>>>);

impl InputCallback for Keys {
    fn add_char(&mut self, _uni_char: u32) {}

    fn set_key_state(&mut self, key: Key, down: bool) {
        let command = match key {
            Key::Q | Key::Escape => Command::Quit,
            Key::N | Key::Right => Command::NextStyle,
            Key::P | Key::Left => Command::PreviousStyle,
            Key::S => Command::Snapshot,
            _ => return,
        };
        if down {
            self.0.lock().expect("key lock").push(command);
        }
    }
}

pub struct Display {
    window: Window,
    pressed: Arc<Mutex<Vec<Command>>>,
    buffer: Vec<u32>,
    width: usize,
    height: usize,
}

impl Display {
    pub fn open(title: &str, width: usize, height: usize) -> Result<Self, String> {
        let mut window = Window::new(title, width, height, WindowOptions::default())
            .map_err(|e| e.to_string())?;
        // Events are polled between frames; minifb's own frame pacing would only add latency.
        window.set_target_fps(0);
        let pressed = Arc::new(Mutex::new(Vec::new()));
        window.set_input_callback(Box::new(Keys(pressed.clone())));
        Ok(Self {
            window,
            pressed,
            buffer: vec![0; width * height],
            width,
            height,
        })
    }

    pub fn show(&mut self, image: &Planar) -> Result<(), String> {
        let n = image.width * image.height;
        let (r, rest) = image.data.split_at(n);
        let (g, b) = rest.split_at(n);
        let px = |v: f32| v.round().clamp(0.0, 255.0) as u32;
        self.buffer.resize(n, 0);
        for (i, out) in self.buffer.iter_mut().enumerate() {
            *out = (px(r[i]) << 16) | (px(g[i]) << 8) | px(b[i]);
        }
        self.width = image.width;
        self.height = image.height;
        self.window
            .update_with_buffer(&self.buffer, self.width, self.height)
            .map_err(|e| e.to_string())
    }

    /// Processes window events without a new frame.
    pub fn poll(&mut self) {
        self.window.update();
    }

    pub fn set_title(&mut self, title: &str) {
        self.window.set_title(title);
    }

    /// The commands given since the last call; closing the window is Quit.
    pub fn commands(&self) -> Vec<Command> {
        if !self.window.is_open() {
            return vec![Command::Quit];
        }
        std::mem::take(&mut *self.pressed.lock().expect("key lock"))
    }
}

/// Whether a display server is reachable at all (checked before trying, for a clear error).
pub fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}
