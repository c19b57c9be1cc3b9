/**
 * The messages of SPEC §10, each with a plain-text and an HTML part. Built-in texts can be replaced per kind
 * by `<kind>.txt` / `<kind>.html` files in LATCHKEY_MAIL_TEMPLATES; a `.txt` file may start with a
 * `Subject: …` line. Placeholders are `{{app_name}}`, `{{username}}`, `{{email}}`, `{{link}}`, `{{expires_in}}`;
 * values are HTML-escaped in the HTML part. No message ever carries a password.
 *
 * @example
 *   const templates = loadTemplates(config.mailTemplates);
 *   const message = templates.render('verify-email', { username: 'ada', link, ... });
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config.ts';

export const MAIL_KINDS = ['verify-email', 'reset-password', 'change-email', 'email-changed', 'signup-exists'] as const;
export type MailKind = (typeof MAIL_KINDS)[number];

export interface MailMessage {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export interface TemplateValues {
  readonly app_name: string;
  readonly username: string;
  readonly email: string;
  /** Empty for notices that carry no link. */
  readonly link: string;
  readonly expires_in: string;
}

interface Template {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

const FOOTER_TEXT = '\n\nIf you did not ask for this, you can ignore this message.\n';
const FOOTER_HTML = '<p style="color:#666">If you did not ask for this, you can ignore this message.</p>';

function page(body: string): string {
  return `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">${body}${FOOTER_HTML}</body></html>`;
}

const BUILT_IN: Readonly<Record<MailKind, Template>> = {
  'verify-email': {
    subject: 'Confirm your email address for {{app_name}}',
    text:
      'Hello {{username}},\n\nconfirm your email address {{email}} by opening this link (it works once, for {{expires_in}}):\n\n{{link}}' +
      FOOTER_TEXT,
    html: page(
      '<p>Hello {{username}},</p><p>confirm your email address {{email}} by opening this link (it works once, for {{expires_in}}):</p><p><a href="{{link}}">Confirm my address</a></p><p>{{link}}</p>',
    ),
  },
  'reset-password': {
    subject: 'Reset your {{app_name}} password',
    text:
      'Hello {{username}},\n\nchoose a new password by opening this link (it works once, for {{expires_in}}):\n\n{{link}}\n\nEvery session of your account will be signed out.' +
      FOOTER_TEXT,
    html: page(
      '<p>Hello {{username}},</p><p>choose a new password by opening this link (it works once, for {{expires_in}}):</p><p><a href="{{link}}">Set a new password</a></p><p>{{link}}</p><p>Every session of your account will be signed out.</p>',
    ),
  },
  'change-email': {
    subject: 'Confirm your new email address for {{app_name}}',
    text:
      'Hello {{username}},\n\nconfirm {{email}} as the new address of your account by opening this link (it works once, for {{expires_in}}):\n\n{{link}}' +
      FOOTER_TEXT,
    html: page(
      '<p>Hello {{username}},</p><p>confirm {{email}} as the new address of your account by opening this link (it works once, for {{expires_in}}):</p><p><a href="{{link}}">Confirm my new address</a></p><p>{{link}}</p>',
    ),
  },
  'email-changed': {
    subject: 'The email address of your {{app_name}} account is being changed',
    text: 'Hello {{username}},\n\nsomeone signed in to your account asked to change its email address to {{email}}. The change happens when the link sent to that address is opened.\n\nIf this was not you, change your password now.\n',
    html: page(
      '<p>Hello {{username}},</p><p>someone signed in to your account asked to change its email address to {{email}}. The change happens when the link sent to that address is opened.</p><p>If this was not you, change your password now.</p>',
    ),
  },
  'signup-exists': {
    subject: 'You already have a {{app_name}} account',
    text:
      'Hello,\n\nsomeone tried to create a {{app_name}} account with {{email}}, but this address already has one. You can sign in, or reset your password if you forgot it.' +
      FOOTER_TEXT,
    html: page(
      '<p>Hello,</p><p>someone tried to create a {{app_name}} account with {{email}}, but this address already has one. You can sign in, or reset your password if you forgot it.</p>',
    ),
  },
};

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function fill(template: string, values: TemplateValues, escape: (v: string) => string): string {
  return template.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (whole, name: string) =>
    Object.hasOwn(values, name) ? escape(values[name as keyof TemplateValues]) : whole,
  );
}

export class MailTemplates {
  constructor(private readonly templates: Readonly<Record<MailKind, Template>>) {}

  render(kind: MailKind, values: TemplateValues): MailMessage {
    const t = this.templates[kind];
    // A subject is one header line: no newline may reach it from a value.
    const subject = fill(t.subject, values, (v) => v).replace(/[\r\n]+/g, ' ');
    return { subject, text: fill(t.text, values, (v) => v), html: fill(t.html, values, escapeHtml) };
  }
}

/** The built-in messages, with the files of `folder` (LATCHKEY_MAIL_TEMPLATES) in their place. */
export function loadTemplates(folder: string | undefined): MailTemplates {
  if (folder === undefined) return new MailTemplates(BUILT_IN);
  let files: string[];
  try {
    files = readdirSync(folder);
  } catch {
    throw new ConfigError('LATCHKEY_MAIL_TEMPLATES', `cannot read the folder "${folder}"`);
  }
  const known = new Set<string>(MAIL_KINDS.flatMap((k) => [`${k}.txt`, `${k}.html`]));
  const unknown = files.filter((f) => /\.(txt|html)$/.test(f) && !known.has(f));
  if (unknown.length > 0) {
    throw new ConfigError('LATCHKEY_MAIL_TEMPLATES', `unknown template ${unknown.join(', ')} (kinds: ${MAIL_KINDS.join(', ')})`);
  }
  const out = {} as Record<MailKind, Template>;
  for (const kind of MAIL_KINDS) {
    const base = BUILT_IN[kind];
    let subject = base.subject;
    let text = base.text;
    let html = base.html;
    if (files.includes(`${kind}.txt`)) {
      text = readFileSync(join(folder, `${kind}.txt`), 'utf8');
      const match = /^Subject:[ \t]*(.*)\r?\n/.exec(text);
      if (match) {
        subject = match[1] ?? subject;
        text = text.slice(match[0].length).replace(/^\r?\n/, '');
      }
    }
    if (files.includes(`${kind}.html`)) html = readFileSync(join(folder, `${kind}.html`), 'utf8');
    out[kind] = { subject, text, html };
  }
  return new MailTemplates(out);
}
