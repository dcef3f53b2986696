/**
 * cli.ts loads every command module, and so setup's and doctor's, on each run, and `pingknock proxy`
 * runs on every ssh: the ssh-config package (~15 ms to load) is loaded only when setup or doctor
 * really runs.
 */
export const loadSshConfigModules = async () => {
  const [plan, add, names, proxyCommand, ssh] = await Promise.all([
    import('../core/ssh-config/add-plan.js'),
    import('../core/ssh-config/add.js'),
    import('../core/ssh-config/names.js'),
    import('../core/ssh-config/proxy-command.js'),
    import('../edge/ssh.js'),
  ]);
  return { ...plan, ...add, ...names, ...proxyCommand, ...ssh };
};
