/** The few building blocks every page uses: labelled fields, messages, sections, and an action's state. */
import { type InputHTMLAttributes, type ReactNode, useCallback, useId, useState } from 'react';
import { describeError } from './messages.ts';

type InputProps = Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'onChange' | 'value'>;

/** A visible label above its input; the label's words are how people and tests find the field. */
export function Field({
  label,
  value,
  onChange,
  hint,
  ...input
}: { label: string; value: string; onChange: (value: string) => void; hint?: string } & InputProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-describedby={hint === undefined ? undefined : `${id}-hint`}
        {...input}
      />
      {hint === undefined ? null : (
        <small id={`${id}-hint`} className="hint">
          {hint}
        </small>
      )}
    </div>
  );
}

/** An error (role=alert, read out at once) or a confirmation (role=status). */
export function Message({ kind, children }: { kind: 'error' | 'success' | 'info'; children: ReactNode }) {
  return (
    <p role={kind === 'error' ? 'alert' : 'status'} className={`message ${kind}`}>
      {children}
    </p>
  );
}

export function Section({ title, children, id }: { title: string; children: ReactNode; id?: string }) {
  const headingId = useId();
  return (
    <section aria-labelledby={headingId} className="card" id={id}>
      <h2 id={headingId}>{title}</h2>
      {children}
    </section>
  );
}

export interface Action {
  readonly busy: boolean;
  readonly error: string | null;
  readonly done: string | null;
  run(work: () => Promise<string | null | void>): Promise<void>;
  reset(): void;
}

/** Runs one thing at a time and keeps what to tell the user: the error of §5/§10/§11, or a confirmation. */
export function useAction(context: 'link' | 'mfa' | 'default' = 'default'): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const run = useCallback(
    async (work: () => Promise<string | null | void>) => {
      setBusy(true);
      setError(null);
      setDone(null);
      try {
        const result = await work();
        setDone(typeof result === 'string' ? result : null);
      } catch (caught) {
        setError(describeError(caught, context));
      } finally {
        setBusy(false);
      }
    },
    [context],
  );
  return { busy, error, done, run, reset: () => (setError(null), setDone(null)) };
}

export function ActionMessages({ action }: { action: Action }) {
  return (
    <>
      {action.error === null ? null : <Message kind="error">{action.error}</Message>}
      {action.done === null ? null : <Message kind="success">{action.done}</Message>}
    </>
  );
}

export function formatInstant(date: Date | null): string {
  if (date === null || Number.isNaN(date.getTime())) return '—';
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/:\d{2}(\.\d+)?Z$/, ' UTC');
}
