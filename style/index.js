// Entry point of the extension's styles for the federated build (package.json "styleModule").
import './base.css';
