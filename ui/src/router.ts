import { createRouter, createWebHistory, type Router } from 'vue-router'
import type { Session } from './session'
import { CALLBACK_PATH } from './auth'

declare module 'vue-router' {
  interface RouteMeta {
    auth?: boolean
    admin?: boolean
    title?: string
  }
}

export function makeRouter(session: Session): Router {
  const router = createRouter({
    history: createWebHistory(),
    routes: [
      { path: '/', name: 'rules', component: () => import('./views/RulesView.vue'), meta: { auth: true, title: 'Your rules' } },
      { path: '/rules/new', name: 'new-rule', component: () => import('./views/RuleEditView.vue'), meta: { auth: true, title: 'New rule' } },
      { path: '/rules/:id(\\d+)', name: 'rule', component: () => import('./views/RuleEditView.vue'), meta: { auth: true, title: 'Edit rule' } },
      { path: '/delivery', name: 'delivery', component: () => import('./views/DeliveryView.vue'), meta: { auth: true, title: 'Delivery' } },
      { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { title: 'Log in' } },
      { path: CALLBACK_PATH, name: 'callback', component: () => import('./views/CallbackView.vue'), meta: { title: 'Logging in' } },
      { path: '/admin', redirect: '/admin/rules' },
      { path: '/admin/rules', name: 'admin-rules', component: () => import('./views/AdminRulesView.vue'), meta: { auth: true, admin: true, title: 'All rules' } },
      { path: '/admin/users', name: 'admin-users', component: () => import('./views/AdminUsersView.vue'), meta: { auth: true, admin: true, title: 'Users' } },
      { path: '/admin/default-rules', name: 'admin-default-rules', component: () => import('./views/AdminDefaultRulesView.vue'), meta: { auth: true, admin: true, title: 'Default rules' } },
      { path: '/admin/stats', name: 'admin-stats', component: () => import('./views/AdminStatsView.vue'), meta: { auth: true, admin: true, title: 'Statistics' } },
      { path: '/:rest(.*)*', name: 'not-found', component: () => import('./views/NotFoundView.vue'), meta: { title: 'Not found' } },
    ],
  })
  router.beforeEach(async (to) => {
    if (!to.meta.auth) return true
    if (!session.auth.loggedIn) return { name: 'login', query: { next: to.fullPath } }
    if (!session.me.user && !session.me.loading) await session.loadMe()
    if (to.meta.admin && session.me.user && !session.me.user.is_admin) return { name: 'rules' }
    return true
  })
  router.afterEach((to) => {
    document.title = `${to.meta.title ? to.meta.title + ' · ' : ''}${session.config.site_name}`
  })
  return router
}
