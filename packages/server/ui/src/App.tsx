/** The frame of every page (header, navigation, main landmark, title) and which page a path shows. */
import { useLogout, useSession } from '@latchkey/client/react';
import { type ReactNode, useEffect } from 'react';
import { useApp } from './app-context.ts';
import { Link, navigate, useLocation } from './router.tsx';
import { AccountPage } from './pages/Account.tsx';
import { AdminPage } from './pages/Admin.tsx';
import { ForgotPage } from './pages/Forgot.tsx';
import { LoginPage } from './pages/Login.tsx';
import { RegisterPage } from './pages/Register.tsx';
import { ResetPasswordPage } from './pages/ResetPassword.tsx';
import { VerifyEmailPage } from './pages/VerifyEmail.tsx';

const PAGES: Record<string, { title: string; render: () => ReactNode }> = {
  '/ui/login': { title: 'Sign in', render: () => <LoginPage /> },
  '/ui/register': { title: 'Create account', render: () => <RegisterPage /> },
  '/ui/forgot': { title: 'Forgot password', render: () => <ForgotPage /> },
  '/ui/reset-password': { title: 'Set a new password', render: () => <ResetPasswordPage /> },
  '/ui/verify-email': { title: 'Verify your email', render: () => <VerifyEmailPage /> },
  '/ui/account': { title: 'Your account', render: () => <AccountPage /> },
  '/ui/admin': { title: 'Admin console', render: () => <AdminPage /> },
};

function Header() {
  const { config } = useApp();
  const session = useSession();
  const logout = useLogout();
  const signOut = async () => {
    try {
      await logout.mutateAsync();
    } finally {
      navigate('/ui/login');
    }
  };
  return (
    <header className="top">
      <span className="brand">{config.appName}</span>
      {session.status === 'authenticated' ? (
        <nav aria-label="Main">
          <Link to="/ui/account">Account</Link>
          {session.session.user.role === 'ADMIN' ? <Link to="/ui/admin">Admin</Link> : null}
          <button type="button" className="secondary" onClick={() => void signOut()} disabled={logout.isPending}>
            Sign out
          </button>
        </nav>
      ) : null}
    </header>
  );
}

export function App() {
  const { config } = useApp();
  const { path } = useLocation();
  const page = PAGES[path];
  const title = page?.title ?? 'Not found';
  useEffect(() => {
    document.title = `${title} · ${config.appName}`;
  }, [title, config.appName]);
  useEffect(() => {
    if (path === '/ui' || path === '') navigate('/ui/login', { replace: true });
  }, [path]);
  return (
    <>
      <Header />
      <main className={path === '/ui/admin' ? 'wide' : 'narrow'}>
        <h1>{title}</h1>
        {page === undefined ? (
          <p>
            There is no such page. <Link to="/ui/login">Go to sign-in</Link>.
          </p>
        ) : (
          page.render()
        )}
      </main>
    </>
  );
}
