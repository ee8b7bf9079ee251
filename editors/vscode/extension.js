// The ttd debug type: VS Code runs `ttd dap` (setting ttd.path) and speaks DAP with it on stdio.
// All debugging logic lives in the adapter; this file only tells VS Code how to start it.
'use strict';

const vscode = require('vscode');

class TtdAdapterFactory {
  createDebugAdapterDescriptor(_session, _executable) {
    const ttdPath = vscode.workspace.getConfiguration('ttd').get('path') || 'ttd';
    return new vscode.DebugAdapterExecutable(ttdPath, ['dap']);
  }
}

function activate(context) {
  context.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory('ttd', new TtdAdapterFactory()));
}

function deactivate() {}

module.exports = { activate, deactivate, TtdAdapterFactory };
