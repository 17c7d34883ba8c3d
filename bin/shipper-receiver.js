#!/usr/bin/env node
import '../dist/receiver/main.js';
