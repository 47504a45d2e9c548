//! A build without the `window` feature: no display can be opened, and the live loop runs
//! headless. Same interface as window.rs.

use super::Command;
use crate::picture::Planar;

/// Never constructed: `open` always fails.
pub enum Display {}

impl Display {
    pub fn open(_title: &str, _width: usize, _height: usize) -> Result<Self, String> {
        Err("this faststyle was built without the window (cargo feature `window`)".to_string())
    }

    pub fn show(&mut self, _image: &Planar) -> Result<(), String> {
        match *self {}
    }

    pub fn poll(&mut self) {
        match *self {}
    }

    pub fn set_title(&mut self, _title: &str) {
        match *self {}
    }

    pub fn commands(&self) -> Vec<Command> {
        match *self {}
    }
}

pub fn display_available() -> bool {
    false
}
